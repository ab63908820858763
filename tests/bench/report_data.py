#!/usr/bin/env python3
"""Fills a Zvon database with a year of synthetic call-center traffic for the report
benchmark (tests/bench/reports.sh).

Usage: report_data.py DB [CALLS]      (default 1,000,000 calls over 2023, UTC)

DB must already exist with Zvon's schema (reports.sh lets zvon create it). Rows go straight
in with Python's sqlite3 in one transaction, the way the store would have written them:

- 85 % of the calls are queue calls to support / sales / billing (6:3:1). Between 08:00 and
  18:00 UTC: ENTERQUEUE, then an offer and CONNECT after a wait of 0-89 s, COMPLETECALLER
  after 60-359 s of talk and 10 s of wrap-up (WRAPUPSTART/WRAPUPEND); 12 % of them abandon
  instead, 2 % time out; a few rings go unanswered first (RINGNOANSWER). Outside those
  hours nobody is logged in: JOINEMPTY.
- 15 % are direct calls between extensions (80 % answered).
- 20 agents log in to all three queues at 08:00 and out at 18:00 UTC every day; the even
  ones pause for lunch (reason 1) from 12:00 to 12:30, when the odd ones take the calls.
- Calls are spread evenly over the year (one every 31.5 s for a million); every call has a
  CDR with two legs.
"""

import random
import sqlite3
import sys

YEAR = 1_672_531_200  # 2023-01-01 00:00:00 UTC
DAY = 86_400
QUEUES = ["support"] * 6 + ["sales"] * 3 + ["billing"]
AGENTS = [(f"a{n:02}", str(2000 + n)) for n in range(20)]


def main():
    db = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rnd = random.Random(6)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    cdr, legs, ev = [], [], []

    def e(at, call, queue, agent, event, *data):
        d = list(data) + [""] * (5 - len(data))
        ev.append((at * 1000, call, queue, agent, event, *d[:5]))

    for day in range(365):
        d0 = YEAR + day * DAY
        for a, ext in AGENTS:
            for q in ("support", "sales", "billing"):
                e(d0 + 8 * 3600, "NONE", q, a, "ADDMEMBER", ext)
            if int(a[1:]) % 2 == 0:
                e(d0 + 12 * 3600, "NONE", "NONE", a, "PAUSEALL", "1")
                e(d0 + 12 * 3600 + 1800, "NONE", "NONE", a, "UNPAUSEALL")
            for q in ("support", "sales", "billing"):
                e(d0 + 18 * 3600, "NONE", q, a, "REMOVEMEMBER")
    step = 365 * DAY / n
    for i in range(n):
        start = YEAR + int(i * step)
        uid = f"{start}.{i}"
        caller = f"+49301{rnd.randrange(10**7):07}"
        tod = start % DAY
        if rnd.random() < 0.85 and not 8 * 3600 <= tod < 18 * 3600 - 600:
            q = rnd.choice(QUEUES)
            e(start, uid, q, "NONE", "JOINEMPTY")
            cdr.append((uid, uid, start, start, start + 5, caller, None, "700", None,
                        "ANSWERED", 5, 5, "normal", "system", None, "PCMU", None, f"queue:{q}"))
            legs.append((uid, 0, "caller", caller, start, start, start + 5, "ANSWERED"))
            continue
        if rnd.random() < 0.85:
            q = rnd.choice(QUEUES)
            k = i % len(AGENTS)
            if 12 * 3600 - 600 <= tod < 12 * 3600 + 1800:
                k |= 1  # the even agents are at lunch
            a, ext = AGENTS[k]
            e(start, uid, q, "NONE", "ENTERQUEUE", "", caller, "1")
            r = rnd.random()
            wait = rnd.randrange(90)
            hist = f"queue:{q}"
            if r < 0.12:
                e(start + wait, uid, q, "NONE", "ABANDON", "1", "1", str(wait))
                end, person = start + wait, None
            elif r < 0.14:
                e(start + 300, uid, q, "NONE", "EXITWITHTIMEOUT", "1", "1", "300")
                end, person, hist = start + 330, None, hist + ";queue-timeout;voicemail:1004"
            else:
                if r > 0.97:
                    b, bext = AGENTS[(i + 1) % len(AGENTS)]
                    e(start, uid, q, b, "OFFER", bext)
                    e(start + min(wait, 15), uid, q, b, "RINGNOANSWER", "15000")
                    hist += f";offer:{b}"
                talk = 60 + rnd.randrange(300)
                c = start + wait
                e(c, uid, q, a, "OFFER", ext)
                e(c, uid, q, a, "CONNECT", str(wait), uid, "0")
                e(c + talk, uid, q, a, "COMPLETECALLER", str(wait), str(talk), "1")
                e(c + talk, uid, q, a, "WRAPUPSTART", "10")
                e(c + talk + 10, "NONE", "NONE", a, "WRAPUPEND")
                end, person, hist = c + talk, (ext, c), hist + f";offer:{a};agent:{a}"
            answer, dialed = start, "700"
        else:
            caller, dialed = "1001", str(1002 + i % 8)
            hist = ""
            if rnd.random() < 0.8:
                p = start + 5
                end, person, answer = p + 30 + rnd.randrange(200), (dialed, p), p
            else:
                end, person, answer = start + 20, None, None
        disp = "ANSWERED" if answer is not None else "NO ANSWER"
        billsec = end - answer if answer is not None else 0
        cdr.append((uid, uid, start, answer, end, caller, None, dialed,
                    person[0] if person else None, disp, end - start, billsec,
                    "normal", "caller", None, "PCMU", "PCMU" if person else None, hist))
        legs.append((uid, 0, "caller", caller, start, answer, end, disp))
        legs.append((uid, 1, "callee", person[0] if person else dialed, start,
                     person[1] if person else None, end,
                     "ANSWERED" if person else "NO ANSWER"))
    ev.sort(key=lambda r: r[0])
    with con:
        con.executemany("INSERT INTO cdr VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cdr)
        con.executemany(
            "INSERT INTO cdr_legs (uniqueid, leg, side, peer, start, answer, end, disposition)"
            " VALUES (?,?,?,?,?,?,?,?)", legs)
        con.executemany(
            "INSERT INTO queue_log (at_ms, call_id, queue, agent, event, data1, data2, data3,"
            " data4, data5) VALUES (?,?,?,?,?,?,?,?,?,?)", ev)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"{n} calls, {len(cdr)} CDRs, {len(legs)} legs, {len(ev)} queue events")


main()
