//! Outbound routing, pure: which route a dialled number takes, the number sent, the trunks in
//! order, the caller ID, and the class-of-service check.
//!
//! The number goes through: the route's `strip` (digits off the front) → `prepend` → with
//! `e164 = true`, normalisation to E.164 with `[numbering]` → on each trunk, that trunk's
//! `number_format` (only for numbers in E.164 form, `+…`).

use super::{CallerIdPolicy, Class, NumberFormat, Numbering, OutRoute, Trunk, TrunksConfig};

/// How an outbound call goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutPlan {
    /// The route's name (`emergency` for `[emergency]` numbers).
    pub route: String,
    /// The number after the route's manipulation (before the trunk's format).
    pub number: String,
    /// Trunks to try, in order.
    pub trunks: Vec<String>,
    pub caller_id: CallerIdPolicy,
    /// An `[emergency]` number: no class check, no limits.
    pub emergency: bool,
}

/// Why an outbound call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No route matches (404).
    NoRoute,
    /// The route needs a class the extension does not have (403).
    Class {
        route: String,
        needed: Class,
        have: Class,
    },
}

impl Refusal {
    /// The SIP status and reason phrase for the caller, and the CDR cause.
    pub fn answer(&self) -> (u16, &'static str, String) {
        match self {
            Refusal::NoRoute => (404, "Not Found", "no outbound route".into()),
            Refusal::Class {
                route,
                needed,
                have,
            } => (
                403,
                "Forbidden",
                format!(
                    "class of service: route {route} needs {}, the extension has {}",
                    needed.name(),
                    have.name()
                ),
            ),
        }
    }
}

/// Plans an outbound call to `dialed` by an extension of class `class`. `route`: a route
/// named by the dial plan (else the first route whose pattern matches). Emergency numbers
/// always get a plan.
pub fn plan_outbound(
    cfg: &TrunksConfig,
    dialed: &str,
    route: Option<&str>,
    class: Class,
) -> Result<OutPlan, Refusal> {
    if cfg.emergency.numbers.iter().any(|n| n == dialed) {
        let trunks = if cfg.emergency.trunks.is_empty() {
            cfg.trunks.keys().cloned().collect()
        } else {
            cfg.emergency.trunks.clone()
        };
        return Ok(OutPlan {
            route: "emergency".into(),
            number: dialed.to_owned(),
            trunks,
            caller_id: CallerIdPolicy::Extension,
            emergency: true,
        });
    }
    let r = cfg
        .routes
        .iter()
        .filter(|r| route.is_none_or(|n| r.name == n))
        .find(|r| r.patterns.iter().any(|p| p.matches(dialed).is_some()))
        .ok_or(Refusal::NoRoute)?;
    if class < r.class || class == Class::Internal {
        return Err(Refusal::Class {
            route: r.name.clone(),
            needed: r.class,
            have: class,
        });
    }
    Ok(OutPlan {
        route: r.name.clone(),
        number: manipulate(r, &cfg.numbering, dialed),
        trunks: r.trunks.clone(),
        caller_id: r.caller_id.clone(),
        emergency: false,
    })
}

/// A route's digit manipulation.
pub fn manipulate(r: &OutRoute, numbering: &Numbering, dialed: &str) -> String {
    let rest: String = dialed.chars().skip(r.strip).collect();
    let n = format!("{}{rest}", r.prepend);
    if r.e164 { to_e164(numbering, &n) } else { n }
}

/// Normalises a number to E.164 (`+CC…`): `+…` stays; the international prefix becomes `+`;
/// the national prefix becomes `+country`; anything else is a local number
/// (`+country area number`). Without a country code the number is returned unchanged.
pub fn to_e164(nb: &Numbering, n: &str) -> String {
    if n.starts_with('+') || nb.country.is_empty() {
        return n.to_owned();
    }
    if !nb.international_prefix.is_empty()
        && let Some(rest) = n.strip_prefix(nb.international_prefix.as_str())
    {
        return format!("+{rest}");
    }
    if !nb.national_prefix.is_empty()
        && let Some(rest) = n.strip_prefix(nb.national_prefix.as_str())
    {
        return format!("+{}{rest}", nb.country);
    }
    format!("+{}{}{n}", nb.country, nb.area.as_deref().unwrap_or(""))
}

/// How the number is written to one trunk.
pub fn for_trunk(t: &Trunk, nb: &Numbering, number: &str) -> String {
    let Some(digits) = number.strip_prefix('+') else {
        return number.to_owned();
    };
    match t.number_format {
        NumberFormat::E164 => number.to_owned(),
        NumberFormat::NoPlus => digits.to_owned(),
        NumberFormat::National => match digits.strip_prefix(nb.country.as_str()) {
            Some(national) if !nb.country.is_empty() => {
                format!("{}{national}", nb.national_prefix)
            }
            _ => format!("{}{digits}", nb.international_prefix),
        },
    }
}

/// The caller ID presented on a trunk: by the route's policy, from the extension's own
/// `caller_id` and the trunk's company number. `None`: nothing configured (the extension
/// number is sent; a provider will usually replace it).
pub fn caller_id(
    policy: &CallerIdPolicy,
    t: &Trunk,
    ext_caller_id: Option<&str>,
) -> Option<String> {
    match policy {
        CallerIdPolicy::Number(n) => Some(n.clone()),
        CallerIdPolicy::Company => t.caller_id.clone(),
        CallerIdPolicy::Extension => ext_caller_id.map(str::to_owned).or(t.caller_id.clone()),
    }
}

/// Whether an outbound call fits the toll-fraud limits, given the outbound calls up now.
/// Emergency calls are never limited.
pub fn within_limits(cfg: &TrunksConfig, ext_active: u32, total_active: u32) -> Result<(), String> {
    let l = cfg.limits;
    if l.per_extension > 0 && ext_active >= l.per_extension {
        return Err(format!(
            "toll-fraud limit: {ext_active} outbound calls of this extension already (per_extension = {})",
            l.per_extension
        ));
    }
    if l.total > 0 && total_active >= l.total {
        return Err(format!(
            "toll-fraud limit: {total_active} outbound calls already (total = {})",
            l.total
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dialplan::{Pattern, Spot};
    use crate::trunk::{DidSource, Emergency, Limits};
    use std::time::Duration;

    pub(crate) fn trunk(name: &str) -> Trunk {
        Trunk {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: 5070,
            transport: crate::sip::Transport::Udp,
            domain: "prov.example".into(),
            username: Some("acc".into()),
            auth_username: None,
            password: Some(crate::config::Secret::new("pw")),
            register: false,
            expires: Duration::from_secs(600),
            retry: Duration::from_secs(30),
            retry_max: Duration::from_secs(600),
            inbound_from: Vec::new(),
            context: "from-provider".into(),
            did: DidSource::RequestUri,
            max_channels: 0,
            caller_id: Some("+4930123450".into()),
            from_user: None,
            pai: false,
            number_format: NumberFormat::E164,
            qualify: Duration::ZERO,
            qualify_failures: 3,
            at: Spot::default(),
        }
    }

    fn route(name: &str, pats: &[&str], class: Class, e164: bool) -> OutRoute {
        OutRoute {
            name: name.into(),
            patterns: pats.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            strip: 0,
            prepend: String::new(),
            e164,
            trunks: vec!["a".into(), "b".into()],
            class,
            caller_id: CallerIdPolicy::Extension,
            at: Spot::default(),
        }
    }

    fn cfg() -> TrunksConfig {
        let mut strip8 = route("ru-national", &["_8ZXXXXXXXXX"], Class::National, false);
        strip8.strip = 1;
        strip8.prepend = "+7".into();
        TrunksConfig {
            trunks: [("a".into(), trunk("a")), ("b".into(), trunk("b"))].into(),
            routes: vec![
                route("premium", &["_0900.", "_0137."], Class::Premium, true),
                route("national", &["_0Z."], Class::National, true),
                route(
                    "international",
                    &["_00Z.", "_+."],
                    Class::International,
                    true,
                ),
                strip8,
                route("local", &["_ZXXXXX!"], Class::Local, true),
            ],
            numbering: Numbering {
                country: "49".into(),
                area: Some("30".into()),
                ..Numbering::default()
            },
            default_class: Class::National,
            limits: Limits {
                per_extension: 2,
                total: 3,
            },
            emergency: Emergency {
                numbers: vec!["112".into()],
                trunks: vec!["b".into()],
            },
        }
    }

    #[test]
    fn routes_match_in_order_and_manipulate_digits() {
        let c = cfg();
        let p = plan_outbound(&c, "030123456", None, Class::National).unwrap();
        assert_eq!(
            (p.route.as_str(), p.number.as_str()),
            ("national", "+4930123456")
        );
        assert_eq!(p.trunks, ["a", "b"]);
        let p = plan_outbound(&c, "0044207946", None, Class::International).unwrap();
        assert_eq!(
            (p.route.as_str(), p.number.as_str()),
            ("international", "+44207946")
        );
        let p = plan_outbound(&c, "+44207946", None, Class::International).unwrap();
        assert_eq!(p.number, "+44207946");
        let p = plan_outbound(&c, "1234567", None, Class::Local).unwrap();
        assert_eq!(
            (p.route.as_str(), p.number.as_str()),
            ("local", "+49301234567")
        );
        // 8 (Russian national prefix) stripped, +7 prepended.
        let p = plan_outbound(&c, "84951234567", None, Class::National).unwrap();
        assert_eq!(
            (p.route.as_str(), p.number.as_str()),
            ("ru-national", "+74951234567")
        );
        // A premium number takes the premium route, not the national one after it.
        assert_eq!(
            plan_outbound(&c, "09001234", None, Class::National),
            Err(Refusal::Class {
                route: "premium".into(),
                needed: Class::Premium,
                have: Class::National
            })
        );
        assert_eq!(
            plan_outbound(&c, "12", None, Class::Premium),
            Err(Refusal::NoRoute)
        );
        // A route named by the dial plan: only that one.
        assert_eq!(
            plan_outbound(&c, "030123456", Some("international"), Class::Premium),
            Err(Refusal::NoRoute)
        );
    }

    #[test]
    fn classes_of_service_order() {
        let c = cfg();
        for (class, national, intl) in [
            (Class::Internal, false, false),
            (Class::Local, false, false),
            (Class::National, true, false),
            (Class::International, true, true),
            (Class::Premium, true, true),
        ] {
            assert_eq!(
                plan_outbound(&c, "030123", None, class).is_ok(),
                national,
                "{class:?}"
            );
            assert_eq!(
                plan_outbound(&c, "00441234", None, class).is_ok(),
                intl,
                "{class:?}"
            );
        }
        let (code, _, cause) = plan_outbound(&c, "00441234", None, Class::National)
            .unwrap_err()
            .answer();
        assert_eq!(code, 403);
        assert!(cause.contains("international"), "{cause}");
        // Emergency numbers whatever the class, on the designated trunk.
        let p = plan_outbound(&c, "112", None, Class::Internal).unwrap();
        assert!(p.emergency);
        assert_eq!(p.trunks, ["b"]);
    }

    #[test]
    fn e164_and_trunk_formats() {
        let nb = cfg().numbering;
        assert_eq!(to_e164(&nb, "0301234"), "+49301234");
        assert_eq!(to_e164(&nb, "00331234"), "+331234");
        assert_eq!(to_e164(&nb, "1234"), "+49301234");
        assert_eq!(to_e164(&Numbering::default(), "0301234"), "0301234");
        let mut t = trunk("a");
        assert_eq!(for_trunk(&t, &nb, "+49301234"), "+49301234");
        t.number_format = NumberFormat::NoPlus;
        assert_eq!(for_trunk(&t, &nb, "+49301234"), "49301234");
        t.number_format = NumberFormat::National;
        assert_eq!(for_trunk(&t, &nb, "+49301234"), "0301234");
        assert_eq!(for_trunk(&t, &nb, "+331234"), "00331234");
        assert_eq!(for_trunk(&t, &nb, "0301234"), "0301234");
    }

    #[test]
    fn caller_id_policy_and_limits() {
        let t = trunk("a");
        let ext = CallerIdPolicy::Extension;
        assert_eq!(
            caller_id(&ext, &t, Some("+4930123451")).as_deref(),
            Some("+4930123451")
        );
        assert_eq!(caller_id(&ext, &t, None).as_deref(), Some("+4930123450"));
        assert_eq!(
            caller_id(&CallerIdPolicy::Company, &t, Some("+4930123451")).as_deref(),
            Some("+4930123450")
        );
        assert_eq!(
            caller_id(&CallerIdPolicy::Number("+491".into()), &t, None).as_deref(),
            Some("+491")
        );
        let c = cfg();
        assert!(within_limits(&c, 1, 2).is_ok());
        assert!(
            within_limits(&c, 2, 2)
                .unwrap_err()
                .contains("per_extension = 2")
        );
        assert!(within_limits(&c, 0, 3).unwrap_err().contains("total = 3"));
    }
}
