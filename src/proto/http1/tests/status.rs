//! HAProxy's default error messages and reason phrases.

use super::*;

const STATUSES: [u16; 18] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 425, 429, 500, 501, 502, 503, 504,
];

/// Every message is a valid response whose Content-Length is its body's.
#[test]
fn default_errors_are_well_formed() {
    for status in STATUSES {
        for (msg, close) in [
            (default_error(status).unwrap(), false),
            (default_error_close(status).unwrap(), true),
        ] {
            resp_ok(msg, get11(), |h| {
                assert_eq!(h.status, status);
                let RespFraming::ContentLength(n) = h.framing else {
                    panic!("{status}: {:?}", h.framing)
                };
                let body = &msg[h.head_len..];
                assert_eq!(body.len() as u64, n, "{status}: {}", show(body));
                assert!(body.starts_with(
                    format!("<html><body><h1>{status} {}</h1>\n", h.reason).as_bytes()
                ));
                assert!(body.ends_with(b"\n</body></html>\n"));
                let names: Vec<&str> = h.headers.iter().map(|f| f.name).collect();
                let mut expected = vec!["content-length", "cache-control", "content-type"];
                if close {
                    expected.push("connection");
                }
                assert_eq!(names, expected, "{status}");
                assert_eq!(h.conn == ConnIntent::Close, close, "{status}");
            });
        }
    }
    for status in [0, 100, 302, 414, 422, 431, 505, 999] {
        assert_eq!(default_error(status), None, "{status}");
        assert_eq!(default_error_close(status), None, "{status}");
    }
}

/// Byte for byte, a few of them.
#[test]
fn default_error_bytes() {
    assert_eq!(
        show(default_error(503).unwrap()),
        show(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")
    );
    assert_eq!(
        show(default_error_close(400).unwrap()),
        show(b"HTTP/1.1 400 Bad request\r\ncontent-length: 90\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n")
    );
    assert_eq!(
        show(default_error(504).unwrap()),
        show(b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 92\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n")
    );
    assert!(default_error(502).unwrap().ends_with(
        b"<h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n"
    ));
}

#[test]
fn reason_phrases() {
    for (status, reason) in [
        (100, "Continue"),
        (101, "Switching Protocols"),
        (200, "OK"),
        (204, "No Content"),
        (302, "Found"),
        (304, "Not Modified"),
        (400, "Bad Request"),
        (404, "Not Found"),
        (408, "Request Time-out"),
        (413, "Request Entity Too Large"),
        (429, "Too Many Requests"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway or Proxy Error"),
        (503, "Service Unavailable"),
        (504, "Gateway Time-out"),
        (199, "Informational"),
        (299, "Success"),
        (399, "Redirection"),
        (499, "client has closed connection"),
        (498, "Client Error"),
        (598, "Server Error"),
        (600, "Other"),
        (0, "Other"),
    ] {
        assert_eq!(reason_phrase(status), reason, "{status}");
    }
}
