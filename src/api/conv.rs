//! One client's side of HAProxy's CLI protocol, without I/O: input
//! buffering and framing, interactive mode and prompt, privilege level, and
//! when to close. The server feeds it bytes and asks what to do next.
//!
//! HAProxy's rules (`cli_io_handler`): every command's output is followed
//! by an empty line (`\n`), or by `\n> ` in interactive mode with prompt. In
//! non-interactive mode the connection closes after a command when no more
//! input is waiting (so `cmd1; cmd2` on one line runs both); interactive
//! mode keeps it open until `quit` or the client closes.

use super::command::{self, PromptMode};
use crate::config::ApiLevel as Level;

/// What to do next with a client's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run this command (its bytes, delimiter removed).
    Line(Vec<u8>),
    /// Wait for more input.
    NeedMore,
    /// The client closed and no complete command is left: close.
    End,
    /// More than a buffer's worth of input without a delimiter: say so and
    /// close.
    TooLong,
}

/// HAProxy's message for an overlong command line.
pub const TOO_LONG: &str = "The command line is too big for the buffer size. Please change \
'tune.bufsize' in the configuration to use a bigger command.\n";

#[derive(Debug)]
pub struct Conversation {
    inbuf: Vec<u8>,
    pub level: Level,
    /// The socket has `expose-fd listeners` (`_getsocks` is allowed).
    pub expose_fd: bool,
    pub interactive: bool,
    pub prompt: bool,
    read_closed: bool,
    max_line: usize,
}

impl Conversation {
    /// A new client at `level`; command lines up to `max_line` bytes.
    pub fn new(level: Level, max_line: usize) -> Conversation {
        Conversation {
            inbuf: Vec::new(),
            level,
            expose_fd: false,
            interactive: false,
            prompt: false,
            read_closed: false,
            max_line,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.inbuf.extend_from_slice(data);
    }

    /// The client closed its sending side.
    pub fn eof(&mut self) {
        self.read_closed = true;
    }

    pub fn read_closed(&self) -> bool {
        self.read_closed
    }

    pub fn has_input(&self) -> bool {
        !self.inbuf.is_empty()
    }

    /// Input beyond this is not read until commands consume it.
    pub fn wants_input(&self) -> bool {
        !self.read_closed && self.inbuf.len() <= self.max_line
    }

    pub fn next(&mut self) -> Next {
        match command::next_command(&self.inbuf) {
            Some((line, used)) => {
                let line = line.to_vec();
                self.inbuf.drain(..used);
                Next::Line(line)
            }
            None if self.inbuf.len() > self.max_line => Next::TooLong,
            None if self.read_closed => Next::End,
            None => Next::NeedMore,
        }
    }

    /// What follows a command's output, and whether to close once it is
    /// sent (non-interactive mode with no input waiting).
    pub fn after_command(&self) -> (&'static str, bool) {
        match (self.interactive, self.prompt) {
            (true, true) => ("\n> ", false),
            (true, false) => ("\n", false),
            (false, _) => ("\n", self.inbuf.is_empty()),
        }
    }

    /// `prompt`, `prompt n|i|p`.
    pub fn set_prompt(&mut self, mode: PromptMode) {
        let (interactive, prompt) = match mode {
            PromptMode::Toggle if self.interactive => (false, false),
            PromptMode::Toggle | PromptMode::Prompt => (true, true),
            PromptMode::NonInteractive => (false, false),
            PromptMode::Interactive => (true, false),
        };
        self.interactive = interactive;
        self.prompt = prompt;
    }
}
