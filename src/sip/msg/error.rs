//! The one error type of the message layer: small, `Copy`, and able to name the 400 reason.
//!
//! Every parser in `sip::msg` returns [`ParseError`]. [`ParseError::reason`] and
//! [`ParseError::status`] give what a server answers (RFC 3261 §8.2, §21.4.1, §21.5.6, §21.4.14).

/// Why a message, or one header value in it, could not be parsed or failed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The datagram/frame is larger than `Limits::max_size`.
    #[error("message larger than the size limit")]
    TooLarge,
    /// More header fields than `Limits::max_headers`.
    #[error("too many header fields")]
    TooManyHeaders,
    /// Nothing but CR/LF (a keep-alive sent as a datagram).
    #[error("empty message")]
    Empty,
    /// The header section does not end with an empty line.
    #[error("header section not terminated by an empty line")]
    NoHeaderEnd,
    /// The start line is neither a Request-Line nor a Status-Line (RFC 3261 §7.1, §7.2).
    #[error("malformed start line")]
    BadStartLine,
    /// A SIP-Version other than SIP/2.0 (RFC 3261 §7.1; answered with 505).
    #[error("unsupported SIP version")]
    BadVersion,
    /// A malformed URI (RFC 3261 §19.1, §25.1; RFC 3966 for tel).
    #[error("malformed URI")]
    BadUri,
    /// A header line without a colon, with a non-token name, or a stray continuation line.
    #[error("malformed header line")]
    BadHeaderLine,
    /// The value of the named header does not parse.
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that may appear once appears more than once (RFC 3261 §7.3.1).
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// Content-Length is not a number, or several Content-Length headers disagree.
    #[error("malformed Content-Length")]
    BadContentLength,
    /// The body is shorter than Content-Length (RFC 3261 §18.3).
    #[error("body shorter than Content-Length")]
    BodyTruncated,
    /// CSeq is not `1*DIGIT LWS Method` or the number exceeds 2**32-1 (RFC 3261 §20.16).
    #[error("malformed CSeq")]
    BadCSeq,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5, RFC 4475 §3.1.2.17).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// A malformed Via value (RFC 3261 §20.42).
    #[error("malformed Via")]
    BadVia,
    /// A malformed name-addr / addr-spec (RFC 3261 §20.10, §25.1).
    #[error("malformed name-addr")]
    BadNameAddr,
    /// A malformed Contact value (RFC 3261 §20.10).
    #[error("malformed Contact")]
    BadContact,
    /// A malformed Authorization / Proxy-Authorization / challenge (RFC 3261 §25.1, RFC 2617).
    #[error("malformed credentials")]
    BadCredentials,
    /// The Request-URI carries `?headers`, not allowed there (RFC 3261 §19.1.1 table, RFC 4475 §3.1.2.11).
    #[error("Request-URI carries headers")]
    RequestUriHeaders,
    /// `validate_request` was given a response.
    #[error("not a request")]
    NotARequest,
    /// `validate_response` was given a request.
    #[error("not a response")]
    NotAResponse,
}

impl ParseError {
    /// A short reason phrase for the response a server sends (a 400 unless [`Self::status`] says
    /// otherwise), e.g. `"Bad Request - CSeq method mismatch"`.
    pub fn reason(&self) -> &'static str {
        use ParseError::*;
        match self {
            TooLarge => "Message Too Large",
            TooManyHeaders => "Bad Request - Too many headers",
            Empty => "Bad Request - Empty message",
            NoHeaderEnd => "Bad Request - Header section not terminated",
            BadStartLine => "Bad Request - Malformed start line",
            BadVersion => "Version Not Supported",
            BadUri => "Bad Request - Malformed URI",
            BadHeaderLine => "Bad Request - Malformed header line",
            BadHeader(name) => bad_header_reason(name),
            MissingHeader(name) => missing_header_reason(name),
            DuplicateHeader(name) => duplicate_header_reason(name),
            BadContentLength => "Bad Request - Malformed Content-Length",
            BodyTruncated => "Bad Request - Body shorter than Content-Length",
            BadCSeq => "Bad Request - Malformed CSeq",
            CSeqMethodMismatch => "Bad Request - CSeq method mismatch",
            BadVia => "Bad Request - Malformed Via",
            BadNameAddr => "Bad Request - Malformed address",
            BadContact => "Bad Request - Malformed Contact",
            BadCredentials => "Bad Request - Malformed credentials",
            RequestUriHeaders => "Bad Request - Headers in Request-URI",
            NotARequest | NotAResponse => "Bad Request",
        }
    }

    /// The status code a server answers with: 505 for [`Self::BadVersion`] (RFC 3261 §21.5.6),
    /// 513 for [`Self::TooLarge`] (§21.5.7), 400 otherwise (§21.4.1).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::BadVersion => 505,
            ParseError::TooLarge => 513,
            _ => 400,
        }
    }
}

fn bad_header_reason(name: &str) -> &'static str {
    match name {
        "From" => "Bad Request - Malformed From",
        "To" => "Bad Request - Malformed To",
        "Call-ID" => "Bad Request - Malformed Call-ID",
        "CSeq" => "Bad Request - Malformed CSeq",
        "Via" => "Bad Request - Malformed Via",
        "Contact" => "Bad Request - Malformed Contact",
        "Max-Forwards" => "Bad Request - Malformed Max-Forwards",
        "Date" => "Bad Request - Malformed Date",
        "Expires" => "Bad Request - Malformed Expires",
        _ => "Bad Request - Malformed header",
    }
}

fn missing_header_reason(name: &str) -> &'static str {
    match name {
        "From" => "Bad Request - Missing From",
        "To" => "Bad Request - Missing To",
        "Call-ID" => "Bad Request - Missing Call-ID",
        "CSeq" => "Bad Request - Missing CSeq",
        "Via" => "Bad Request - Missing Via",
        "Content-Length" => "Bad Request - Missing Content-Length",
        _ => "Bad Request - Missing header",
    }
}

fn duplicate_header_reason(name: &str) -> &'static str {
    match name {
        "From" => "Bad Request - Multiple From",
        "To" => "Bad Request - Multiple To",
        "Call-ID" => "Bad Request - Multiple Call-ID",
        "CSeq" => "Bad Request - Multiple CSeq",
        "Max-Forwards" => "Bad Request - Multiple Max-Forwards",
        _ => "Bad Request - Duplicate header",
    }
}
