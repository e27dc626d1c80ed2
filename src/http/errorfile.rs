//! `errorfile CODE FILE`: a complete HTTP response loaded at configuration
//! time, checked as HAProxy's `http_str_to_htx()` checks it.

use std::sync::Arc;

/// The status codes HAProxy can answer with an errorfile.
pub const ERRORFILE_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 414, 421, 422, 425, 429, 431, 500, 501, 502,
    503, 504,
];

/// A response to send instead of the built-in one for `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFile {
    /// The code it stands for (`errorfile CODE ...`).
    pub code: u16,
    /// The status line's code in the file. As in HAProxy it may differ from
    /// `code` (a maintenance page answering 200 for 503, say).
    pub status: u16,
    /// The whole response as written in the file (truncated to
    /// `tune.bufsize`, with a warning, if longer).
    pub raw: Arc<[u8]>,
    /// Length of the head: status line, headers and the empty line.
    pub head_len: usize,
}

impl ErrorFile {
    pub fn head(&self) -> &[u8] {
        self.raw.get(..self.head_len).unwrap_or_default()
    }

    pub fn body(&self) -> &[u8] {
        self.raw.get(self.head_len..).unwrap_or_default()
    }
}

/// Checks `bytes` (the content of `path`) as a response for `code`.
/// Warnings (truncation) go to `warnings`.
pub(crate) fn parse_errorfile(
    code: u16,
    path: &str,
    bytes: Vec<u8>,
    bufsize: usize,
    warnings: &mut Vec<String>,
) -> Result<ErrorFile, String> {
    let mut bytes = bytes;
    if bytes.len() > bufsize {
        warnings.push(format!(
            "custom error message file '{path}' larger than {bufsize} bytes. Truncating."
        ));
        bytes.truncate(bufsize);
    }
    let (status, raw, head_len) = normalize(&bytes).map_err(|e| format!("'{path}': {e}"))?;
    Ok(ErrorFile {
        code,
        status,
        raw: Arc::from(raw),
        head_len,
    })
}

/// Checks a response and rewrites its head with CRLF line ends (the file
/// may use bare LF): (status, response, head length).
fn normalize(bytes: &[u8]) -> Result<(u16, Vec<u8>, usize), String> {
    let (status, head_len) = check_response(bytes)?;
    let mut slots = [httparse::EMPTY_HEADER; 101];
    let mut res = httparse::Response::new(&mut slots);
    res.parse(bytes)
        .map_err(|e| format!("unable to parse headers ({e})"))?;
    let mut out = Vec::with_capacity(bytes.len() + 16);
    out.extend_from_slice(if res.version == Some(0) {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(res.reason.unwrap_or_default().as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in res.headers.iter() {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let new_head = out.len();
    out.extend_from_slice(bytes.get(head_len..).unwrap_or_default());
    Ok((status, out, new_head))
}

/// The status and head length of a complete response, or why it is not
/// one HAProxy would send.
fn check_response(raw: &[u8]) -> Result<(u16, usize), String> {
    let mut slots = [httparse::EMPTY_HEADER; 101];
    let mut res = httparse::Response::new(&mut slots);
    let head_len = match res.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("unable to parse headers (incomplete head)".to_string());
        }
        Err(e) => return Err(format!("unable to parse headers ({e})")),
    };
    let status = res.code.unwrap_or(0);
    if status < 200 && (status == 100 || status >= 102) {
        return Err(format!(
            "invalid http status code for an error message ({status})"
        ));
    }
    let mut content_length = None;
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunk-encoded payload not supported".to_string());
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).unwrap_or_default().trim();
            let n: u64 = v
                .parse()
                .map_err(|_| format!("invalid content-length '{v}'"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err("conflicting content-length headers".to_string());
            }
            content_length = Some(n);
        }
    }
    let payload = (raw.len() - head_len) as u64;
    let bodyless = matches!(status, 204 | 304) || content_length == Some(0);
    if bodyless && payload > 0 {
        return Err("message payload not expected".to_string());
    }
    if let Some(cl) = content_length.filter(|_| !matches!(status, 204 | 304))
        && cl != payload
    {
        return Err(format!(
            "payload size does not match the announced content-length ({payload} != {cl})"
        ));
    }
    Ok((status, head_len))
}
