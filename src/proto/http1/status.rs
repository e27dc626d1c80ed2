//! HAProxy's canned answers and reason phrases (`src/http.c`).

/// One default error message, in the two shapes HAProxy sends it.
macro_rules! errmsg {
    ($code:literal, $reason:literal, $len:literal, $text:literal) => {
        (
            $code,
            concat!(
                "HTTP/1.1 ",
                $code,
                " ",
                $reason,
                "\r\n",
                "content-length: ",
                $len,
                "\r\n",
                "cache-control: no-cache\r\n",
                "content-type: text/html\r\n",
                "\r\n",
                "<html><body><h1>",
                $code,
                " ",
                $reason,
                "</h1>\n",
                $text,
                "\n</body></html>\n"
            )
            .as_bytes(),
            concat!(
                "HTTP/1.1 ",
                $code,
                " ",
                $reason,
                "\r\n",
                "content-length: ",
                $len,
                "\r\n",
                "cache-control: no-cache\r\n",
                "content-type: text/html\r\n",
                "connection: close\r\n",
                "\r\n",
                "<html><body><h1>",
                $code,
                " ",
                $reason,
                "</h1>\n",
                $text,
                "\n</body></html>\n"
            )
            .as_bytes(),
        )
    };
}

/// `http_err_msgs[]`: status, message on a kept-alive connection, message
/// before closing. Texts, reasons and lengths are HAProxy's, typos included
/// ("407 Unauthorized", the stray dot of 501).
static ERRORS: [(u16, &[u8], &[u8]); 18] = [
    errmsg!(200, "OK", 58, "Service ready."),
    errmsg!(
        400,
        "Bad request",
        90,
        "Your browser sent an invalid request."
    ),
    errmsg!(
        401,
        "Unauthorized",
        112,
        "You need a valid user and password to access this content."
    ),
    errmsg!(
        403,
        "Forbidden",
        93,
        "Request forbidden by administrative rules."
    ),
    errmsg!(404, "Not Found", 83, "The resource could not be found."),
    errmsg!(
        405,
        "Method Not Allowed",
        146,
        "A request was made of a resource using a request method not supported by that resource"
    ),
    errmsg!(
        407,
        "Unauthorized",
        112,
        "You need a valid user and password to access this content."
    ),
    errmsg!(
        408,
        "Request Time-out",
        110,
        "Your browser didn't send a complete request in time."
    ),
    errmsg!(
        410,
        "Gone",
        114,
        "The resource is no longer available and will not be available again."
    ),
    errmsg!(
        413,
        "Payload Too Large",
        106,
        "The request entity exceeds the maximum allowed."
    ),
    errmsg!(
        421,
        "Misdirected Request",
        104,
        "Request sent to a non-authoritative server."
    ),
    errmsg!(425, "Too Early", 80, "Your browser sent early data."),
    errmsg!(
        429,
        "Too Many Requests",
        117,
        "You have sent too many requests in a given amount of time."
    ),
    errmsg!(
        500,
        "Internal Server Error",
        97,
        "An internal server error occurred."
    ),
    errmsg!(
        501,
        "Not Implemented",
        136,
        ".The server does not support the functionality required to fulfill the request."
    ),
    errmsg!(
        502,
        "Bad Gateway",
        107,
        "The server returned an invalid or incomplete response."
    ),
    errmsg!(
        503,
        "Service Unavailable",
        107,
        "No server is available to handle this request."
    ),
    errmsg!(
        504,
        "Gateway Time-out",
        92,
        "The server didn't respond in time."
    ),
];

/// HAProxy's default error message for `status` (200, 400, 401, 403, 404,
/// 405, 407, 408, 410, 413, 421, 425, 429, 500, 501, 502, 503, 504), whole
/// response bytes, as HAProxy 2.6 emits it through HTX on a connection it
/// keeps open: header names lowercased, no `connection` field. Send
/// [`default_error_close`] instead when closing after it (always for 400,
/// 408 and the answers to invalid messages).
///
/// ```
/// let m = ringproxy::proto::http1::default_error(503).unwrap();
/// assert!(m.starts_with(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\n"));
/// ```
pub fn default_error(status: u16) -> Option<&'static [u8]> {
    ERRORS.iter().find(|e| e.0 == status).map(|e| e.1)
}

/// [`default_error`] with `connection: close` after the other fields, as
/// HAProxy's H1 mux appends it when it closes after the answer.
pub fn default_error_close(status: u16) -> Option<&'static [u8]> {
    ERRORS.iter().find(|e| e.0 == status).map(|e| e.2)
}

/// HAProxy's reason phrase for a status (`http_get_reason()`), used when a
/// status line is generated without one; unknown codes get their class's.
pub fn reason_phrase(status: u16) -> &'static str {
    known_reason(status).unwrap_or(match status {
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Other",
    })
}

fn known_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        210 => "Content Different",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        310 => "Too many Redirects",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        450 => "Blocked by Windows Parental Controls",
        451 => "Unavailable For Legal Reasons",
        456 => "Unrecoverable Error",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not extended",
        511 => "Network authentication required",
        520 => "Web server is returning an unknown error",
        _ => return None,
    })
}
