//! Adapter processes, for both adapter protocols (client, spec Appendix C; decoder,
//! Appendix D): run a command once with bytes on its standard input, or keep one running and
//! exchange lines with it. Every wait is bounded; a process that overran it is killed; the last
//! lines of its standard error are kept for the report.

use std::collections::VecDeque;
use std::fmt;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How many lines of standard error are kept.
const STDERR_LINES: usize = 12;

/// Why a process gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessError {
    /// The command could not be started.
    Spawn {
        /// The program.
        program: String,
        /// What the system said.
        message: String,
    },
    /// It exited before answering, or with a status other than 0.
    Crashed {
        /// How it ended.
        status: String,
        /// The last lines of its standard error.
        stderr: String,
    },
    /// It did not answer in time; it was killed.
    Silent {
        /// How long it was given.
        waited: Duration,
        /// The last lines of its standard error.
        stderr: String,
    },
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Spawn { program, message } => {
                write!(f, "{program:?} could not be started ({message}): check the command after --")
            }
            ProcessError::Crashed { status, stderr } => {
                write!(f, "it crashed ({status}) instead of answering{}", tail(stderr))
            }
            ProcessError::Silent { waited, stderr } => {
                write!(f, "it gave no answer within {} ms and was killed{}", waited.as_millis(), tail(stderr))
            }
        }
    }
}

impl std::error::Error for ProcessError {}

/// `; its standard error ended with: ...`, or nothing.
pub fn tail(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its standard error ended with: {stderr}")
    }
}

/// The last lines of a process's standard error, shared with the task that reads them.
#[derive(Debug, Clone, Default)]
pub struct Stderr(Arc<Mutex<VecDeque<String>>>);

impl Stderr {
    fn push(&self, line: &str) {
        let mut q = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() == STDERR_LINES {
            q.pop_front();
        }
        q.push_back(line.chars().take(400).collect());
    }

    /// The kept lines, joined with ` | `.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect::<Vec<_>>().join(" | ")
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Parses exactly one JSON object out of `text` (both protocols answer with one per input).
pub fn one_object(text: &[u8]) -> Result<serde_json::Value, String> {
    let mut values = serde_json::Deserializer::from_slice(text).into_iter::<serde_json::Value>();
    let first = match values.next() {
        None => return Err("nothing was written".into()),
        Some(Err(e)) => return Err(format!("not JSON: {e}")),
        Some(Ok(v)) => v,
    };
    if values.next().is_some() {
        return Err("more than one JSON value".into());
    }
    if !first.is_object() {
        return Err("a JSON value that is not an object".into());
    }
    Ok(first)
}

/// The start of `text`, for messages.
pub fn preview(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    let short: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        format!("{short}...")
    } else {
        short
    }
}

fn builder(command: &[String]) -> Result<Command, ProcessError> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| ProcessError::Spawn { program: String::new(), message: "no command given (after --)".into() })?;
    let mut c = Command::new(program);
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    Ok(c)
}

fn spawn(command: &[String]) -> Result<Child, ProcessError> {
    builder(command)?.spawn().map_err(|e| ProcessError::Spawn {
        program: command.first().cloned().unwrap_or_default(),
        message: e.to_string(),
    })
}

fn read_stderr(child: &mut Child, into: &[Stderr]) -> Option<tokio::task::JoinHandle<()>> {
    let pipe = child.stderr.take()?;
    let into = into.to_vec();
    Some(tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            for t in &into {
                t.push(&l);
            }
        }
    }))
}

/// Runs `command` once: `input` on its standard input (then closed), its whole standard output
/// back, within `wait`. A status other than 0 is [`ProcessError::Crashed`]. `stderr` gets the
/// process's last lines of standard error.
pub async fn run_once(
    command: &[String],
    input: &[u8],
    wait: Duration,
    stderr: &Stderr,
) -> Result<Vec<u8>, ProcessError> {
    let mut child = spawn(command)?;
    stderr.clear();
    let reader = read_stderr(&mut child, std::slice::from_ref(stderr));
    let mut stdout = child.stdout.take();
    let work = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A process that exits without reading is judged by its exit status.
            let _ = stdin.write_all(input).await;
            let _ = stdin.shutdown().await;
        }
        let mut out = Vec::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.read_to_end(&mut out).await;
        }
        (out, child.wait().await)
    };
    let result = tokio::time::timeout(wait, work).await;
    if let Some(t) = reader {
        // The pipe closes with the process; a grandchild holding it open is not waited for.
        let _ = tokio::time::timeout(Duration::from_millis(500), t).await;
    }
    // On a timeout `child` was dropped with the future: kill_on_drop ended it.
    let (out, status) = result.map_err(|_| ProcessError::Silent { waited: wait, stderr: stderr.text() })?;
    match status {
        Ok(s) if s.success() => Ok(out),
        Ok(s) => Err(ProcessError::Crashed { status: s.to_string(), stderr: stderr.text() }),
        Err(e) => Err(ProcessError::Crashed { status: e.to_string(), stderr: stderr.text() }),
    }
}

/// A long-lived process spoken to in lines; killed when dropped.
pub struct LineProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<std::io::Result<String>>,
    stderr: Stderr,
}

impl fmt::Debug for LineProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineProcess").field("pid", &self.child.id()).finish()
    }
}

impl LineProcess {
    /// Starts `command`; its standard error also goes to `also` (the run's last-words buffer).
    pub fn start(command: &[String], also: &Stderr) -> Result<LineProcess, ProcessError> {
        let mut child = spawn(command)?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| ProcessError::Crashed { status: "no standard input".into(), stderr: String::new() })?;
        let (tx, rx) = mpsc::channel(256);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                loop {
                    let next = lines.next_line().await;
                    let done = !matches!(next, Ok(Some(_)));
                    let item = match next {
                        Ok(Some(l)) => Ok(l),
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    if tx.send(item).await.is_err() || done {
                        break;
                    }
                }
            });
        }
        let stderr = Stderr::default();
        also.clear();
        let _ = read_stderr(&mut child, &[stderr.clone(), also.clone()]);
        Ok(LineProcess { child, stdin, lines: rx, stderr })
    }

    /// The last lines of its standard error.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    async fn status(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(s)) => s.to_string(),
            Ok(Err(e)) => format!("unknown exit: {e}"),
            Err(_) => "its standard output closed".into(),
        }
    }

    /// Writes one line (a newline is added).
    pub async fn send(&mut self, line: &str) -> Result<(), ProcessError> {
        let written = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await
        };
        if written.await.is_err() {
            return Err(ProcessError::Crashed { status: self.status().await, stderr: self.stderr() });
        }
        Ok(())
    }

    /// The next line of its standard output, by `deadline`.
    pub async fn next_line(
        &mut self,
        deadline: tokio::time::Instant,
        waited: Duration,
    ) -> Result<String, ProcessError> {
        match tokio::time::timeout_at(deadline, self.lines.recv()).await {
            Err(_) => Err(ProcessError::Silent { waited, stderr: self.stderr() }),
            Ok(None | Some(Err(_))) => {
                Err(ProcessError::Crashed { status: self.status().await, stderr: self.stderr() })
            }
            Ok(Some(Ok(l))) => Ok(l),
        }
    }

    /// Closes its standard input and waits (up to 5 s) for it to exit, then kills it.
    pub async fn close(self) {
        let LineProcess { mut child, stdin, .. } = self;
        drop(stdin);
        if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}
