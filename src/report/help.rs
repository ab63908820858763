//! The definitions of every report column, as `zvon report <name> --help` prints them.
//! README.md ("Reports") carries the same lines; a black-box test checks that each line of
//! these texts is in the README.

/// What all reports share.
pub const COMMON: &str = "\
Time zone: --tz ZONE (an IANA name such as Europe/Berlin, or UTC); by default the
`timezone` of the dial plan's default context (its own, else the top-level one of
dialplan.toml), UTC without one or without a readable configuration. Dates, days, hours
and weekdays are local to it; the table title names it, JSON has it as \"time_zone\".
Period: --from/--to take a local date YYYY-MM-DD or unix seconds. --from DATE starts at
local midnight; --to DATE includes that whole day (it ends at the next local midnight), so
a day is 23 or 25 hours long when the clocks change; unix seconds are instants, --to with
them exclusive. --today, --yesterday, --week (ISO week, Monday to Sunday) and --month
(calendar month) are local too. Without any, the report covers all the data.
Hours and weekdays are by the local wall clock: when clocks go forward the skipped hour
has no calls; when they go back both passes of the repeated hour count in that hour.

Formats: table (for people: totals as h:mm:ss, rates as percentages, times local), csv
(RFC 4180, a header row of the column names and no other, totals in seconds, rates as
fractions with 4 decimals, averages with 1 decimal, times as RFC 3339 UTC; a text value
that begins with = + - @, a tab or a carriage return gets a leading ' so a spreadsheet
does not run it as a formula, except a phone number of + and digits only such as
+4930123456) and json
({\"report\", \"from\", \"to\", \"time_zone\", \"parameters\", \"rows\": [{column: value}]}, times
RFC 3339 UTC, undefined values null), and html: one
self-contained page (inline CSS and SVG charts, no scripts, nothing fetched) with the
table; for summary the manager dashboard (summary tiles, the queue table, service level
and abandon rate by hour, an hour x weekday heat map of arrivals, the agent table, the
staffing forecast for 80/20 by weekday and half-hour), for
hourly and forecast with their charts. A value that is 0 of 0 (an average of no calls) is
'-' in a table or page, empty in CSV, null in JSON.";

pub const SUMMARY: &str = "\
Counts the calls (CDRs) that started in the period. Feature-code calls (*78 ...) are
settings, not calls, and are left out.

  calls       calls that started in the period
  inbound     calls whose caller is not one of our extensions
  outbound    calls from one of our extensions to a number that is not ours
  internal    calls from one of our extensions to an extension, queue, group, IVR or mailbox
  answered    calls a person answered (answered_by is set; Zvon answering for a queue,
              an IVR or voicemail does not count)
  missed      calls nobody answered that did not fail = calls - answered - failed
  failed      calls with disposition FAILED (no such number, no codec, ...)
  talk_s      total talk time = sum over answered calls of (end - first answer by a person)
  avg_talk_s  average talk time = talk_s / answered

Our extensions are those of the configuration and the agents' (without a configuration:
every number that answered a call).

A callback call (Zvon calling a queue's customer back; its history starts callback:QUEUE)
is outbound, or internal when the number is one of our extensions; each attempt is a call.
The call in which the caller asked to be called back (callback-request:NUMBER in its
history) was answered by Zvon, not by a person: it counts as missed.";

pub const QUEUES: &str = "\
One row per queue: the queue visits that started (entered the queue, or were turned away
at the door) in the period. T is the queue's service_level from queues.toml (20 s for a
queue not in the configuration); S is --short-abandon (default 5 s).

  offered             visits = ENTERQUEUE + FULL + JOINEMPTY
  answered            visits an agent answered (CONNECT), callbacks included
  abandoned           callers who hung up while waiting (ABANDON) after waiting >= S
  short_abandoned     callers who hung up while waiting after less than S seconds
  overflowed          visits that left without an agent and without hanging up: sent
                      elsewhere (EXITWITHTIMEOUT + EXITWITHKEY + EXITEMPTY), turned away
                      (FULL + JOINEMPTY), or a callback given up (CALLBACKFAILED)
  callbacks           visits whose caller asked to be called back (CALLBACKREQUEST)
  callbacks_answered  callbacks an agent answered (a CONNECT after the CALLBACKREQUEST;
                      also counted in answered)
  callbacks_failed    callbacks given up after the last unanswered attempt (CALLBACKFAILED;
                      also counted in overflowed)
  sl_threshold_s      T
  answered_in_sl      answered visits with hold <= T (hold = wait from entering to CONNECT)
  service_level       answered_in_sl / offered
  abandon_rate        abandoned / offered (short abandons not counted)
  asa_s               average speed of answer = sum of hold / answered
  aht_s               average handle time = sum of (talk + wrap-up) / answered calls that
                      have ended; talk from CONNECT to the end of the agent's part, wrap-up
                      as measured (WRAPUPSTART or the transfer to WRAPUPEND)
  longest_wait_s      the longest wait of a visit that entered and ended (hold if answered,
                      the wait if abandoned or exited)
  wait_p50_s ...      percentiles of those waits, nearest rank: the smallest wait w such
  wait_p95_s          that at least p % of the waits are <= w, i.e.
                      waits[ceil(p/100 * n) - 1]

offered = answered + abandoned + short_abandoned + overflowed + visits still waiting.
The queue's hold time is the caller's wait before an agent answers: it is in ASA, not in
AHT (Zvon logs no on-call hold; an agent's hold during the call counts as talk).

Callbacks (virtual hold): a callback is one visit, from ENTERQUEUE to its end under the
caller's first call id, and counts once in offered. The caller who asks to be called back
and hangs up keeps their place: that is not an abandon. The visit's wait is the whole
wait from ENTERQUEUE, on the line or not. How a callback ends:
  CONNECT         answered; that wait is its hold, in asa_s and the waits; it is in
                  answered_in_sl only if <= T (in practice a callback is answered outside
                  T), and in offered, the denominator of service_level, like any visit
  CALLBACKFAILED  overflowed (and callbacks_failed); the wait until then is in the waits
  ABANDON         the customer answered the callback (CALLBACKANSWER) and hung up before
                  an agent answered: abandoned or short_abandoned by that whole wait
  EXITEMPTY       overflowed, like any caller (nobody left to serve the queue)
callbacks = callbacks_answered + callbacks_failed + the callbacks abandoned, exited or
still waiting.";

pub const HOURLY: &str = "\
The queue visits of the period by the local hour of the day (24 rows, by=hour, slot
00-23) and by the local weekday (7 rows, by=weekday, slot Mon-Sun) of --tz, every row
shown. The columns are those of `zvon report queues` with the same definitions (offered
are the arrivals; service_level = answered_in_sl / offered with each queue's own T;
abandon_rate = abandoned / offered; callbacks count as there, by the hour they entered the
queue, and a failed callback is in overflowed). Per slot, of the visits that entered in it:

  callbacks           visits whose caller asked to be called back (CALLBACKREQUEST)
  callbacks_answered  of those, the ones an agent answered (a CONNECT after the
                      CALLBACKREQUEST; also counted in answered)";

pub const AGENTS: &str = "\
One row per agent (configured or seen in the queue log). Counts are of the agent's events
in the period; times are the time the agent spent in that state inside the period (a state
crossing the start or end of the period is cut there; one still going ends now).

  offers              queue calls rung at the agent (OFFER)
  answered            queue calls the agent answered (CONNECT)
  missed              offers the agent did not answer (RINGNOANSWER)
  callback_attempts   times the agent was kept free while Zvon called a customer back
                      (CALLBACKATTEMPT); an answered attempt is then offered to the agent
  talk_s              time on queue calls (CONNECT to the end of the agent's part)
  aht_s               average handle time = sum of (talk + wrap-up) / calls answered in the
                      period that have ended
  wrapup_s            time in wrap-up (WRAPUPSTART, or a transfer, to WRAPUPEND)
  paused_s            time paused while logged in (PAUSEALL to UNPAUSEALL, a new pause, or
                      the logout)
  paused_by_reason_s  the same by reason code (none = no reason, autopause = paused by Zvon
                      after unanswered offers)
  logged_in_s         time logged in to at least one queue (ADDMEMBER to REMOVEMEMBER)
  occupancy           busy / staffed, busy = time in talk or wrap-up while staffed,
                      staffed = logged in and not paused

An agent working without a login in the log (a static member, logged_in = true in
queues.toml) counts as logged in from its first event. A restart of the daemon is not in
the log: an agent it logged out counts as logged in until its next logout. With --queue:
only that queue's calls, and logged in = logged in to that queue. The time an agent is
kept for a callback attempt counts like ringing: staffed, not busy.";

pub const CALLS: &str = "\
One row per call (CDR) that started in the period, every CDR column (see README, Call
detail records) plus:

  direction  inbound, outbound or internal (as in `zvon report summary`)
  talk_s     end - first answer by a person (0 if nobody answered)

Filters are exact: --queue Q (a queue:Q or callback:Q step in history: callback calls
for Q too, answered or not), --agent ID (an agent:ID step: the agent answered it from a
queue), --extension EXT (caller, dialed or answered_by), --number N (caller or
dialed).";

pub const ABANDONED: &str = "\
Callers to call back: the numbers that abandoned a queue (ABANDON, short abandons
included) in the period and have had no answered call with us since their last abandon -
neither a call from them that somebody answered nor one to them that they answered (up
to the last CDR, not only to the end of the period), nor a callback to the number that
they answered (CALLBACKANSWER in the queue log, which is read up to a day after the
period). Oldest last abandon first.

  number        the caller's number (ENTERQUEUE data2)
  abandons      abandons from the number in the period
  last_abandon  when the last one was
  queue         its queue
  waited_s      how long the caller waited that time

A caller who asked to be called back and hung up has not abandoned (no ABANDON is logged
for it). A customer who answers the callback and hangs up before an agent answers has
(ABANDON after the CALLBACKANSWER) and is listed, unless reached again after that.";

pub const IVR: &str = "\
One row per IVR menu node, from the paths stored in the CDRs' history
(ivr:FLOW:node[input]>node>exit) of the calls that started in the period.

  visits   times callers reached the node
  inputs   keys pressed at the node, and timeout for no input (count each)
  next     where callers went from the node: the next node, or the exit (extension:1002,
           queue:support, voicemail:1004, hangup = the flow hung up, ...), count each
  dropped  visits after which the path ends without an exit: the caller hung up there

Zvon stores the path when the flow exits; a caller who hangs up inside the IVR leaves no
path yet, so dropped stays 0 until the engine records those paths.";

pub const FORECAST: &str = "\
Erlang C staffing for each local half-hour (--tz, as for the reports) of a typical week.
From the history period (default: the 28 local days before today): the calls offered to
the queues (--queue: one queue) in each half-hour, divided by the number of such weekdays
in the period, and the AHT of the period (talk + wrap-up of the answered calls that ended;
--aht overrides it). Half-hours are by the wall clock: on the day clocks go forward the
skipped half-hours get no calls (the day still counts, so their average is a little low);
on the day they go back the repeated half-hours get the calls of both passes.

  calls             average calls offered in the half-hour
  erlangs           A = calls * AHT / 1800 s
  agents            the fewest agents N with service_level >= the target (--target P/T),
                    or N given with --agents
  wait_probability  Erlang C: C = N*B / (N - A*(1 - B)), B = Erlang B by the recursion
                    B(0) = 1, B(k) = A*B(k-1) / (k + A*B(k-1))
  service_level     1 - C * exp(-(N - A) * T / AHT)
  asa_s             average speed of answer = C * AHT / (N - A)
  occupancy         A / N

With N <= A the queue grows without end: wait_probability 1, service_level 0, asa_s
null. Only half-hours with calls are listed. --calls N [--interval S] skips the history
and computes one interval. Erlang C assumes random arrivals, exponential handle times and
callers who never give up: real queues with abandons need somewhat fewer agents.";
