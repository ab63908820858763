//! Transaction matching keys, RFC 3261 §17.1.3 (client) and §17.2.3 (server).
//!
//! Only RFC 3261 branches (starting with the magic cookie `z9hG4bK`) are matched this way. For
//! RFC 2543 peers the endpoint must use the §17.2.3 fallback itself (or reject them); check with
//! [`is_rfc3261_branch`] first.

/// The §8.1.1.7 magic cookie that starts every RFC 3261 branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// True if `branch` starts with the magic cookie (§8.1.1.7), so that §17.1.3 / §17.2.3 matching
/// by branch applies.
#[must_use]
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.starts_with(MAGIC_COOKIE)
}

/// The key a transaction is found by.
///
/// Keep client and server keys in separate maps: a client key has an empty `sent_by`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnKey {
    /// Top Via `branch`, compared exactly.
    pub branch: String,
    /// Top Via sent-by (`host[:port]`), ASCII-lowercased; empty for client keys.
    pub sent_by: String,
    /// The method, with ACK folded into INVITE on the server side.
    pub method: String,
}

impl TxnKey {
    /// §17.2.3: a request matches a server transaction if the top Via branch and sent-by are
    /// equal and the method matches, where ACK matches INVITE (the ACK for a non-2xx final
    /// belongs to the INVITE transaction) and CANCEL is a transaction of its own.
    ///
    /// `sent_by` is lowercased (host names are case-insensitive, §19.1.4); the endpoint should
    /// pass it with an explicit port only if the Via carried one, the same way every time.
    /// Methods are case-sensitive (§7.1).
    #[must_use]
    pub fn server(branch: &str, sent_by: &str, method: &str) -> Self {
        let method = if method == "ACK" { "INVITE" } else { method };
        Self {
            branch: branch.to_owned(),
            sent_by: sent_by.to_ascii_lowercase(),
            method: method.to_owned(),
        }
    }

    /// §17.1.3: a response matches a client transaction if its top Via branch equals the
    /// request's and its CSeq method equals the request's method (so a CANCEL's responses do
    /// not match the INVITE it cancels).
    #[must_use]
    pub fn client(branch: &str, method: &str) -> Self {
        Self {
            branch: branch.to_owned(),
            sent_by: String::new(),
            method: method.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_key_folds_ack_into_invite_but_not_cancel() {
        let invite = TxnKey::server("z9hG4bK1", "pc33.example.com:5060", "INVITE");
        assert_eq!(
            TxnKey::server("z9hG4bK1", "pc33.example.com:5060", "ACK"),
            invite
        );
        assert_ne!(
            TxnKey::server("z9hG4bK1", "pc33.example.com:5060", "CANCEL"),
            invite
        );
    }

    #[test]
    fn server_key_compares_sent_by_host_case_insensitively_and_branch_exactly() {
        let a = TxnKey::server("z9hG4bKabc", "PC33.Example.COM", "BYE");
        assert_eq!(a, TxnKey::server("z9hG4bKabc", "pc33.example.com", "BYE"));
        assert_ne!(a, TxnKey::server("z9hG4bKABC", "pc33.example.com", "BYE"));
        assert_ne!(a, TxnKey::server("z9hG4bKabc", "pc34.example.com", "BYE"));
    }

    #[test]
    fn client_key_separates_cancel_from_the_invite_it_cancels() {
        assert_eq!(
            TxnKey::client("z9hG4bKx", "INVITE"),
            TxnKey::client("z9hG4bKx", "INVITE")
        );
        assert_ne!(
            TxnKey::client("z9hG4bKx", "INVITE"),
            TxnKey::client("z9hG4bKx", "CANCEL")
        );
    }

    #[test]
    fn keys_are_usable_in_hash_maps() {
        let mut m = std::collections::HashMap::new();
        m.insert(TxnKey::server("z9hG4bK1", "h", "INVITE"), 1);
        assert_eq!(m.get(&TxnKey::server("z9hG4bK1", "H", "ACK")), Some(&1));
    }

    #[test]
    fn only_magic_cookie_branches_are_rfc3261() {
        assert!(is_rfc3261_branch("z9hG4bK776asdhds"));
        assert!(!is_rfc3261_branch("776asdhds"));
        assert!(!is_rfc3261_branch("Z9HG4BK776asdhds"));
        assert!(!is_rfc3261_branch(""));
    }
}
