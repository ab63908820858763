//! `queues.toml` → [`AcdConfig`]: every mistake with file:line:column, key path and a hint.
//!
//! ```toml
//! [queues.support]
//! strategy = "longest-idle"        # ring-all, longest-idle, round-robin, fewest-calls,
//!                                  # least-talk-time, random, linear, skills
//! ring_timeout = "15s"             # one offer rings an agent this long
//! retry = "5s"                     # pause before the same caller is offered again
//! wrapup = "10s"                   # after a call the agent gets no offers this long
//! max_wait = "5m"                  # then `on_timeout` (default: wait forever)
//! on_timeout = { action = "voicemail", target = "1000" }
//! max_callers = 20                 # the next caller goes to `on_full`
//! on_full = { action = "prompt", target = "all-operators-busy" }
//! join_when = "logged-in"          # always | logged-in | unpaused
//! leave_when = "never"             # never | none-logged-in | none-unpaused
//! on_empty = { action = "voicemail", target = "1000" }
//! greeting = ["thank-you-for-waiting"]
//! announce_position = "60s"        # position and wait estimate, on joining and this often
//! announce = ["queue-options"]     # custom prompts, every `announce_every`
//! announce_every = "45s"
//! exit_keys = { "1" = { action = "voicemail", target = "1000" }, "2" = "callback" }
//! callback_ring = "30s"            # callback: ring the customer this long per attempt
//! callback_attempts = 3            # ... this many times
//! callback_retry = "2m"            # ... this far apart (the customer keeps the place)
//! skills = { english = 2 }         # a caller needs agents with these levels...
//! relax = [{ after = "60s", skills = {} }]   # ...relaxed after waiting
//! offer_busy_agents = false        # offer to agents on a direct call
//! auto_pause = 3                   # pause after 3 unanswered offers in a row (0 = never)
//! expected_handle_time = "3m"      # first guess of the average handle time
//! service_level = "20s"            # answered within this counts toward the service level
//!
//! [agents.alice]
//! name = "Alice Smith"
//! extension = "1001"               # her phones ring for queue calls
//! queues = { support = 0, sales = 1 }   # queue = penalty (0 is offered first)
//! skills = { english = 3 }
//! wrapup = "20s"                   # overrides the queues' wrap-up
//! login = "static"                 # static: logged in at start; dynamic: logs in with *51
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::{AcdConfig, AgentConfig, ExitKey, JoinWhen, LeaveWhen, QueueConfig, Skills, Strategy};
use crate::config::error::closest;
use crate::config::walk::{self, Ctx, Got, Section, Value};
use crate::dialplan::{Spot, Step};

/// A name `queues.toml` refers to that another file must define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// An agent's extension.
    Extension(String),
    /// A destination (checked like dial-plan actions).
    Destination(Step),
    /// A prompt in a list.
    Prompt(String),
}

/// What [`check`] found besides the config: references with where they are written.
pub type Refs = Vec<(Ref, Spot)>;

fn spot(ctx: &Ctx<'_>, key: &str, span: &walk::Span) -> Spot {
    let (line, column) = ctx.position(span);
    Spot {
        key: key.to_owned(),
        line,
        column,
    }
}

/// Checks `queues.toml`; `None` when anything was wrong (all errors are in `ctx`).
pub(crate) fn check(
    ctx: &mut Ctx<'_>,
    doc: &toml::Spanned<DeTable<'_>>,
) -> Option<(AcdConfig, Refs)> {
    let mut root = Section::new("", doc.get_ref(), doc.span()).with_elsewhere(&[
        ("queue", "queues are written `[queues.NAME]`"),
        ("agent", "agents are written `[agents.ID]`"),
    ]);
    let mut refs = Refs::new();
    let mut ok = true;
    let mut queues = BTreeMap::new();
    // Queues with mistakes of their own: agents naming them get no second error.
    let mut broken: Vec<String> = Vec::new();
    if let Some(v) = root.raw("queues") {
        match walk::table(ctx, "queues", v) {
            Some(t) => {
                for (k, qv) in t.iter() {
                    let name = k.get_ref().to_string();
                    let path = format!("queues.{name}");
                    if !valid_name(&name) {
                        ctx.error(
                            k.span(),
                            &path,
                            format!("`{name}` is not a valid queue name"),
                            Some("use letters, digits, `-` and `_`".into()),
                        );
                        ok = false;
                        continue;
                    }
                    let Some(qt) = walk::table(ctx, &path, qv) else {
                        ok = false;
                        continue;
                    };
                    match queue(ctx, Section::new(path, qt, qv.span()), &mut refs) {
                        Some(q) => {
                            queues.insert(name, q);
                        }
                        None => {
                            broken.push(name);
                            ok = false;
                        }
                    }
                }
            }
            None => ok = false,
        }
    }
    let mut agents = Vec::new();
    if let Some(v) = root.raw("agents") {
        match walk::table(ctx, "agents", v) {
            Some(t) => {
                let mut items: Vec<_> = t.iter().collect();
                // File order (the order `linear` and the live view use).
                items.sort_by_key(|(k, _)| k.span().start);
                let mut seen_ext: BTreeMap<String, String> = BTreeMap::new();
                for (k, av) in items {
                    let id = k.get_ref().to_string();
                    let path = format!("agents.{id}");
                    if !valid_name(&id) {
                        ctx.error(k.span(), &path, format!("`{id}` is not a valid agent id"),
                            Some("use letters, digits, `-` and `_` (it is typed in `zvon agent login ID`)".into()));
                        ok = false;
                        continue;
                    }
                    let Some(at) = walk::table(ctx, &path, av) else {
                        ok = false;
                        continue;
                    };
                    match agent(
                        ctx,
                        Section::new(path.clone(), at, av.span()),
                        &queues,
                        &broken,
                        &mut refs,
                    ) {
                        Some((a, ext_span)) => {
                            if let Some(other) = seen_ext.get(&a.extension) {
                                ctx.error(
                                    ext_span,
                                    &format!("{path}.extension"),
                                    format!(
                                        "extension {} is already agent `{other}`'s",
                                        a.extension
                                    ),
                                    Some("each agent has a phone of their own".into()),
                                );
                                ok = false;
                                continue;
                            }
                            seen_ext.insert(a.extension.clone(), id.clone());
                            agents.push((id, a));
                        }
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    root.finish(ctx);
    ok.then_some((AcdConfig { queues, agents }, refs))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
}

fn boolean(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            ctx.error(v.span(), path, "expected true or false", None);
            None
        }
    }
}

fn choice<T: Copy>(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    options: &[(&str, T)],
) -> Option<T> {
    let s = walk::string(ctx, path, v)?.trim();
    if let Some((_, t)) = options.iter().find(|(n, _)| *n == s) {
        return Some(*t);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let hint = match closest(s, &names) {
        Some(b) => format!("did you mean `{b}`?"),
        None => format!("one of {}", names.join(", ")),
    };
    ctx.error(v.span(), path, format!("unknown value `{s}`"), Some(hint));
    None
}

fn prompts(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, refs: &mut Refs) -> Option<Vec<String>> {
    walk::list_of(ctx, path, v, "[\"thank-you-for-waiting\"]", |c, p, item| {
        let s = walk::nonempty(c, p, item)?.trim().to_string();
        refs.push((Ref::Prompt(s.clone()), spot(c, p, &item.span())));
        Some(s)
    })
}

fn skills(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Skills> {
    let t = walk::table(ctx, path, v)?;
    let mut out = Skills::new();
    let mut ok = true;
    for (k, lv) in t.iter() {
        let p = format!("{path}.{}", k.get_ref());
        match walk::uint(ctx, &p, lv, 1, 100) {
            Some(l) => {
                out.insert(k.get_ref().to_string(), l as u8);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn destination(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, refs: &mut Refs) -> Option<Step> {
    let s = crate::dialplan::destination(ctx, path, v)?;
    refs.push((Ref::Destination(s.clone()), s.at.clone()));
    Some(s)
}

fn queue(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>, refs: &mut Refs) -> Option<QueueConfig> {
    let d = QueueConfig::default();
    let s = Duration::from_secs;
    let strategy = sec.get(ctx, "strategy", |c, p, v| choice(c, p, v, Strategy::ALL));
    let ring_timeout = sec.get(ctx, "ring_timeout", |c, p, v| {
        walk::duration(c, p, v, s(1), s(600))
    });
    let retry = sec.get(ctx, "retry", |c, p, v| {
        walk::duration(c, p, v, s(0), s(600))
    });
    let wrapup = sec.get(ctx, "wrapup", |c, p, v| {
        walk::duration(c, p, v, s(0), s(3600))
    });
    let max_wait = sec.get(ctx, "max_wait", |c, p, v| {
        walk::duration(c, p, v, s(1), s(86_400))
    });
    let on_timeout = sec.get(ctx, "on_timeout", |c, p, v| destination(c, p, v, refs));
    let max_callers = sec.get(ctx, "max_callers", |c, p, v| {
        walk::uint(c, p, v, 1, 100_000)
    });
    let on_full = sec.get(ctx, "on_full", |c, p, v| destination(c, p, v, refs));
    let join_when = sec.get(ctx, "join_when", |c, p, v| {
        choice(
            c,
            p,
            v,
            &[
                ("always", JoinWhen::Always),
                ("logged-in", JoinWhen::LoggedIn),
                ("unpaused", JoinWhen::Unpaused),
            ],
        )
    });
    let leave_when = sec.get(ctx, "leave_when", |c, p, v| {
        choice(
            c,
            p,
            v,
            &[
                ("never", LeaveWhen::Never),
                ("none-logged-in", LeaveWhen::NoneLoggedIn),
                ("none-unpaused", LeaveWhen::NonePaused),
            ],
        )
    });
    let on_empty = sec.get(ctx, "on_empty", |c, p, v| destination(c, p, v, refs));
    let greeting = sec.get(ctx, "greeting", |c, p, v| prompts(c, p, v, refs));
    let announce_position = sec.get(ctx, "announce_position", |c, p, v| {
        walk::duration(c, p, v, s(0), s(3600))
    });
    let announce = sec.get(ctx, "announce", |c, p, v| prompts(c, p, v, refs));
    let announce_every = sec.get(ctx, "announce_every", |c, p, v| {
        walk::duration(c, p, v, s(5), s(3600))
    });
    let exit_keys = sec.get(ctx, "exit_keys", |c, p, v| {
        let t = walk::table(c, p, v)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, dv) in t.iter() {
            let kp = format!("{p}.\"{}\"", k.get_ref());
            let key: Vec<char> = k.get_ref().chars().collect();
            if key.len() != 1 || !"0123456789*#".contains(key[0]) {
                c.error(
                    k.span(),
                    &kp,
                    format!("`{}` is not a phone key", k.get_ref()),
                    Some("keys are \"0\"-\"9\", \"*\" and \"#\"".into()),
                );
                ok = false;
                continue;
            }
            if let DeValue::String(s) = dv.get_ref() {
                if s.trim() == "callback" {
                    out.insert(key[0], ExitKey::Callback);
                } else {
                    c.error(dv.span(), &kp, format!("unknown exit `{}`", s.trim()),
                        Some("an exit key is \"callback\" or a destination like { action = \"voicemail\", target = \"1001\" }".into()));
                    ok = false;
                }
                continue;
            }
            match destination(c, &kp, dv, refs) {
                Some(step) => {
                    out.insert(key[0], ExitKey::Go(step));
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    });
    let skills_req = sec.get(ctx, "skills", skills);
    let relax = sec.get(ctx, "relax", |c, p, v| {
        let steps = walk::list_of(
            c,
            p,
            v,
            "[{ after = \"60s\", skills = {} }]",
            |c, ip, item| {
                let t = walk::table(c, ip, item)?;
                let mut rs = Section::new(ip, t, item.span());
                let after = rs.require(c, "after", "\"60s\"", |c, p, v| {
                    walk::duration(c, p, v, s(1), s(86_400))
                });
                let sk = rs.require(c, "skills", "{}", skills);
                rs.finish(c);
                Some((after?, sk?))
            },
        )?;
        if steps.windows(2).any(|w| w[0].0 >= w[1].0) {
            c.error(
                v.span(),
                p,
                "relaxation steps must come in order of increasing `after`",
                None,
            );
            return None;
        }
        Some(steps)
    });
    let offer_busy = sec.get(ctx, "offer_busy_agents", boolean);
    let auto_pause = sec.get(ctx, "auto_pause", |c, p, v| walk::uint(c, p, v, 0, 100));
    let eht = sec.get(ctx, "expected_handle_time", |c, p, v| {
        walk::duration(c, p, v, s(1), s(86_400))
    });
    let cb_ring = sec.get(ctx, "callback_ring", |c, p, v| {
        walk::duration(c, p, v, s(5), s(300))
    });
    let cb_attempts = sec.get(ctx, "callback_attempts", |c, p, v| {
        walk::uint(c, p, v, 1, 20)
    });
    let cb_retry = sec.get(ctx, "callback_retry", |c, p, v| {
        walk::duration(c, p, v, s(10), s(86_400))
    });
    let sl = sec.get(ctx, "service_level", |c, p, v| {
        walk::duration(c, p, v, s(1), s(3600))
    });
    if let (Got::Val(_, span), Got::Absent) = (&announce, &announce_every) {
        ctx.error(
            span.clone(),
            &sec.key_path("announce"),
            "`announce` without `announce_every`",
            Some("add `announce_every = \"45s\"`".into()),
        );
        sec.finish(ctx);
        return None;
    }
    let opt = |g: Got<Step>| match g {
        Got::Bad => None,
        g => Some(g.val()),
    };
    let on_timeout = opt(on_timeout);
    let on_full = opt(on_full);
    let on_empty = opt(on_empty);
    sec.finish(ctx);
    let announce_position = match announce_position {
        Got::Bad => return None,
        Got::Absent => d.announce_position,
        Got::Val(v, _) => (!v.is_zero()).then_some(v),
    };
    Some(QueueConfig {
        strategy: strategy.or(d.strategy)?,
        ring_timeout: ring_timeout.or(d.ring_timeout)?,
        retry: retry.or(d.retry)?,
        wrapup: wrapup.or(d.wrapup)?,
        max_wait: match max_wait {
            Got::Bad => return None,
            g => g.val(),
        },
        on_timeout: on_timeout?,
        max_callers: match max_callers {
            Got::Bad => return None,
            g => g.val().map(|n| n as usize),
        },
        on_full: on_full?,
        join_when: join_when.or(d.join_when)?,
        leave_when: leave_when.or(d.leave_when)?,
        on_empty: on_empty?,
        greeting: greeting.or(Vec::new())?,
        announce_position,
        announce: announce.or(Vec::new())?,
        announce_every: match announce_every {
            Got::Bad => return None,
            g => g.val(),
        },
        exit_keys: exit_keys.or(BTreeMap::new())?,
        skills: skills_req.or(Skills::new())?,
        relax: relax.or(Vec::new())?,
        offer_busy_agents: offer_busy.or(d.offer_busy_agents)?,
        auto_pause: match auto_pause {
            Got::Bad => return None,
            Got::Absent => d.auto_pause,
            Got::Val(n, _) => (n > 0).then_some(n as u32),
        },
        expected_handle_time: eht.or(d.expected_handle_time)?,
        service_level: sl.or(d.service_level)?,
        callback_ring: cb_ring.or(d.callback_ring)?,
        callback_attempts: cb_attempts.or(u64::from(d.callback_attempts))? as u32,
        callback_retry: cb_retry.or(d.callback_retry)?,
    })
}

fn agent(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    queues: &BTreeMap<String, QueueConfig>,
    broken: &[String],
    refs: &mut Refs,
) -> Option<(AgentConfig, walk::Span)> {
    let s = Duration::from_secs;
    let name = sec.get(ctx, "name", |c, p, v| {
        walk::nonempty(c, p, v).map(|s| s.trim().to_string())
    });
    let mut ext_span = sec.span.clone();
    let extension = sec.require(ctx, "extension", "\"1001\"", |c, p, v| {
        let e = walk::string(c, p, v)?.trim().to_string();
        if !(2..=15).contains(&e.len()) || !e.bytes().all(|b| b.is_ascii_digit()) {
            c.error(
                v.span(),
                p,
                format!("`{e}` is not an extension number"),
                Some("the agent's phone, an extension of extensions.toml like \"1001\"".into()),
            );
            return None;
        }
        ext_span = v.span();
        refs.push((Ref::Extension(e.clone()), spot(c, p, &v.span())));
        Some(e)
    });
    let qs = sec.require(ctx, "queues", "{ support = 0 }", |c, p, v| {
        let t = walk::table(c, p, v)?;
        let mut items: Vec<_> = t.iter().collect();
        items.sort_by_key(|(k, _)| k.span().start);
        let mut out = Vec::new();
        let mut ok = true;
        for (k, pv) in items {
            let q = k.get_ref().to_string();
            let qp = format!("{p}.{q}");
            if broken.contains(&q) {
                ok = false;
                continue;
            }
            if !queues.contains_key(&q) {
                let names: Vec<&str> = queues.keys().map(String::as_str).collect();
                let hint = match closest(&q, &names) {
                    Some(b) => format!("did you mean `{b}`?"),
                    None => "define it as [queues.NAME] above".into(),
                };
                c.error(
                    k.span(),
                    &qp,
                    format!("queue `{q}` does not exist"),
                    Some(hint),
                );
                ok = false;
                continue;
            }
            match walk::uint(c, &qp, pv, 0, 1000) {
                Some(pen) => out.push((q, pen as u32)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    });
    let sk = sec.get(ctx, "skills", skills);
    let wrapup = sec.get(ctx, "wrapup", |c, p, v| {
        walk::duration(c, p, v, s(0), s(3600))
    });
    let login = sec.get(ctx, "login", |c, p, v| {
        choice(c, p, v, &[("static", true), ("dynamic", false)])
    });
    let sec_id = sec.path.trim_start_matches("agents.").to_string();
    sec.finish(ctx);
    let extension = extension?;
    Some((
        AgentConfig {
            name: name.or(sec_id)?,
            extension,
            queues: qs?,
            skills: sk.or(Skills::new())?,
            wrapup: match wrapup {
                Got::Bad => return None,
                g => g.val(),
            },
            logged_in: login.or(true)?,
        },
        ext_span,
    ))
}
