#!/usr/bin/env python3
"""Blind and attended transfer through Zvon, driven from a real SIP stack (PJSIP, pjsua2).

Three phones (1001, 1002, 1003) register to Zvon over UDP on loopback, each on its own
SIP transport (ephemeral port). 1002 and 1003 auto-answer. Then:

  blind:    1001 calls 1002; 1002 transfers it (REFER) to 1003; 1002's call must end,
            1001 and 1003 must be talking (RTP both ways, each hears the other's tone).
  attended: 1001 calls 1002; 1002 holds it, calls 1003, then transfers with Replaces;
            both of 1002's calls must end, 1001 and 1003 must be talking.

Every phone plays its own tone into its calls (1001: 500 Hz, 1002: 1000 Hz, 1003: 1700 Hz);
what a phone receives is recorded and checked with a Goertzel filter, so "exchanging media"
means the right party's audio arrives, not just some packets (e.g. music on hold).

Every wait is bounded; exit 0 on success, 1 with a message on the first failed check.

    transfer.py --zvon 127.0.0.1:5060 --scenario blind [--log-level 5] [--log-file F]
"""

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
import wave

import pjsua2 as pj

STEP = 15.0  # seconds, the bound of every wait
TONES = {"1001": 500.0, "1002": 1000.0, "1003": 1700.0}
CLOCK = 16000


class Failed(Exception):
    pass


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Call(pj.Call):
    def __init__(self, phone, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(phone.acc, call_id)
        self.phone = phone
        self.state = pj.PJSIP_INV_STATE_NULL
        self.state_text = "NULL"
        self.last_code = 0
        self.media_status = None
        self.xfer_status = []  # (code, reason, final) from NOTIFYs of our REFER

    def onCallState(self, prm):
        ci = self.getInfo()
        self.state = ci.state
        self.state_text = ci.stateText
        self.last_code = ci.lastStatusCode
        say(f"{self.phone.ext}: call {ci.remoteUri} -> {ci.stateText} ({ci.lastStatusCode} {ci.lastReason})")

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            self.media_status = mi.status
            # A re-INVITE may rebuild the stream (a new conference port): connect every time.
            if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.phone.tone.startTransmit(self.getAudioMedia(mi.index))

    def onCallTransferStatus(self, prm):
        say(f"{self.phone.ext}: transfer status {prm.statusCode} {prm.reason} final={prm.finalNotify}")
        self.xfer_status.append((prm.statusCode, prm.reason, prm.finalNotify))
        prm.cont = True

    def audio(self):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO:
                return self.getAudioMedia(mi.index)
        raise Failed(f"{self.phone.ext}: call has no audio media")


class Account(pj.Account):
    def __init__(self, phone):
        super().__init__()
        self.phone = phone
        self.reg_code = 0

    def onRegState(self, prm):
        self.reg_code = prm.code
        say(f"{self.phone.ext}: registration {prm.code} {prm.reason}")

    def onIncomingCall(self, prm):
        call = Call(self.phone, prm.callId)
        self.phone.calls.append(call)
        ci = call.getInfo()
        say(f"{self.phone.ext}: incoming call from {ci.remoteUri}")
        if self.phone.auto_answer:
            op = pj.CallOpParam(True)
            op.statusCode = 200
            call.answer(op)


class Phone:
    def __init__(self, ep, ext, host, port, auto_answer):
        self.ext = ext
        self.auto_answer = auto_answer
        self.calls = []
        tc = pj.TransportConfig()
        tc.port = 0
        tc.boundAddress = "127.0.0.1"
        self.tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        self.tone = pj.ToneGenerator()
        self.tone.createToneGenerator(CLOCK, 1)
        tv = pj.ToneDescVector()
        td = pj.ToneDesc()
        td.freq1 = int(TONES[ext])
        td.freq2 = 0
        td.on_msec = 10000
        td.off_msec = 0
        td.volume = 0
        tv.append(td)
        self.tone.play(tv, True)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{ext}@{host}:{port}"
        acfg.regConfig.registrarUri = f"sip:{host}:{port}"
        acfg.regConfig.timeoutSec = 300
        acfg.sipConfig.transportId = self.tid
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", ext, 0, f"demo{ext}"))
        acfg.natConfig.iceEnabled = False
        acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        acfg.mediaConfig.transportConfig.port = random.randrange(30000, 39000, 2)
        acfg.mediaConfig.transportConfig.portRange = 500
        self.acc = Account(self)
        self.acc.create(acfg)

    def call(self, uri):
        c = Call(self)
        self.calls.append(c)
        c.makeCall(uri, pj.CallOpParam(True))
        return c


class Harness:
    def __init__(self, args):
        self.host, self.port = args.zvon.rsplit(":", 1)
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "zvon-pjsua-transfer-test"
        cfg.logConfig.level = args.log_level
        cfg.logConfig.consoleLevel = args.log_level if not args.log_file else 1
        if args.log_file:
            cfg.logConfig.filename = args.log_file
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        cfg.medConfig.clockRate = CLOCK
        cfg.medConfig.sndClockRate = CLOCK
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        # Deterministic media: G.711 only (both are offered; Zvon picks).
        for c in self.ep.codecEnum2():
            prio = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(c.codecId, 0)
            self.ep.codecSetPriority(c.codecId, prio)
        self.ep.libStart()
        self.tmp = tempfile.mkdtemp(prefix="zvon-pjsua-")
        self.phones = {}
        for ext, aa in (("1001", False), ("1002", True), ("1003", True)):
            self.phones[ext] = Phone(self.ep, ext, self.host, self.port, aa)

    def uri(self, ext):
        return f"sip:{ext}@{self.host}:{self.port}"

    def pump(self, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            self.ep.libHandleEvents(50)

    def wait(self, what, pred, timeout=STEP):
        say(f"waiting: {what}")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.ep.libHandleEvents(50)
            if pred():
                return
        raise Failed(f"timed out after {timeout:.0f} s waiting for: {what}")

    def register_all(self):
        for p in self.phones.values():
            self.wait(f"{p.ext} registered", lambda p=p: p.acc.reg_code == 200)

    def incoming(self, ext, n):
        """The n-th call (0-based) that phone `ext` received, once it exists."""
        p = self.phones[ext]
        self.wait(f"{ext} receives call #{n + 1}", lambda: len(p.calls) > n)
        return p.calls[n]

    @staticmethod
    def confirmed(c):
        return c.state == pj.PJSIP_INV_STATE_CONFIRMED

    @staticmethod
    def gone(c):
        return c.state == pj.PJSIP_INV_STATE_DISCONNECTED

    def expect_confirmed(self, c, who):
        if not self.confirmed(c):
            raise Failed(f"{who}'s call is {c.state_text} ({c.last_code}), expected CONFIRMED")

    def rtp(self, c):
        s = c.getStreamStat(0)
        return s.rtcp.rxStat.pkt, s.rtcp.txStat.pkt

    def check_talking(self, a, a_ext, b, b_ext, secs=3.0):
        """RTP counters grow both ways on both calls, and each hears the other's tone."""
        recs = {}
        for c, ext in ((a, a_ext), (b, b_ext)):
            path = os.path.join(self.tmp, f"rx-{ext}-{time.monotonic_ns()}.wav")
            r = pj.AudioMediaRecorder()
            r.createRecorder(path)
            c.audio().startTransmit(r)
            recs[ext] = (r, path)
            del r
        before = {a_ext: self.rtp(a), b_ext: self.rtp(b)}
        timeline = []  # rx counters every 0.5 s, shown when the check fails
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            self.pump(0.5)
            timeline.append(f"{a_ext}:{self.rtp(a)[0]}/{b_ext}:{self.rtp(b)[0]}")
        after = {a_ext: self.rtp(a), b_ext: self.rtp(b)}
        self.expect_confirmed(a, a_ext)
        self.expect_confirmed(b, b_ext)
        paths = {ext: rp[1] for ext, rp in recs.items()}
        recs.clear()  # destroys the recorders; the bridge finalises the files in its thread
        self.pump(0.3)
        want_pkts = int(secs * 50 * 0.6)
        for ext in (a_ext, b_ext):
            rx = after[ext][0] - before[ext][0]
            tx = after[ext][1] - before[ext][1]
            say(f"{ext}: RTP in {secs:.0f} s: rx +{rx}, tx +{tx}")
            if rx < want_pkts or tx < want_pkts:
                raise Failed(f"{ext}: RTP not flowing both ways (rx +{rx}, tx +{tx}, want >= {want_pkts} each);"
                             f" rx totals every 0.5 s: {' '.join(timeline)}")
        for ext, other in ((a_ext, b_ext), (b_ext, a_ext)):
            powers = self.tone_powers(paths[ext])
            desc = ", ".join(f"{e}:{p:.3g}" for e, p in powers.items())
            say(f"{ext} hears (tone power by sender) {desc}")
            rest = max(p for e, p in powers.items() if e != other)
            if powers[other] < 1e-4 or powers[other] < 10 * rest:
                raise Failed(f"{ext} does not hear {other}'s tone ({desc})")

    def tone_powers(self, path):
        end = time.monotonic() + 5
        while True:
            try:
                return tone_powers(*read_wav(path))
            except (wave.Error, EOFError) as e:
                if time.monotonic() > end:
                    raise Failed(f"recording {path} unreadable: {e}")
                self.pump(0.1)

    def hangup(self, c):
        op = pj.CallOpParam(True)
        c.hangup(op)

    def finish(self, a, others):
        say("1001 hangs up")
        self.hangup(a)
        self.wait("1001's call DISCONNECTED", lambda: self.gone(a))
        for c, who in others:
            self.wait(f"{who}'s call DISCONNECTED (BYE from Zvon)", lambda c=c: self.gone(c))

    # -- scenarios --------------------------------------------------------------------

    def blind(self):
        p1, p2 = self.phones["1001"], self.phones["1002"]
        say("1001 calls 1002")
        a = p1.call(self.uri("1002"))
        b = self.incoming("1002", 0)
        self.wait("1001 -> 1002 CONFIRMED on both phones", lambda: self.confirmed(a) and self.confirmed(b))
        self.pump(0.5)
        say("1002 transfers to 1003 (REFER)")
        b.xfer(self.uri("1003"), pj.CallOpParam(True))
        c = self.incoming("1003", 0)
        self.wait("1003 CONFIRMED and 1002's call DISCONNECTED",
                  lambda: self.confirmed(c) and self.gone(b))
        self.expect_confirmed(a, "1001")
        codes = [s[0] for s in b.xfer_status]
        if not any(200 <= x < 300 for x in codes):
            raise Failed(f"1002 never saw a 2xx transfer NOTIFY (saw {b.xfer_status})")
        if len(p2.calls) != 1:
            raise Failed(f"1002 has {len(p2.calls)} calls, expected 1")
        self.check_talking(a, "1001", c, "1003")
        self.finish(a, [(c, "1003")])

    def attended(self):
        p2 = self.phones["1002"]
        say("1001 calls 1002")
        a = self.phones["1001"].call(self.uri("1002"))
        b1 = self.incoming("1002", 0)
        self.wait("1001 -> 1002 CONFIRMED on both phones", lambda: self.confirmed(a) and self.confirmed(b1))
        self.pump(0.5)
        say("1002 holds 1001")
        b1.setHold(pj.CallOpParam(True))
        self.wait("1002's hold done", lambda: b1.media_status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD)
        self.expect_confirmed(a, "1001")
        say("1002 calls 1003 (consultation)")
        b2 = p2.call(self.uri("1003"))
        c = self.incoming("1003", 0)
        self.wait("1002 -> 1003 CONFIRMED on both phones", lambda: self.confirmed(b2) and self.confirmed(c))
        self.pump(0.5)
        say("1002 transfers 1001 to 1003 (REFER with Replaces)")
        b1.xferReplaces(b2, pj.CallOpParam(True))
        self.wait("both of 1002's calls DISCONNECTED", lambda: self.gone(b1) and self.gone(b2))
        self.pump(1.0)  # the re-INVITE towards 1003 settles
        self.expect_confirmed(a, "1001")
        self.expect_confirmed(c, "1003")
        codes = [s[0] for s in b1.xfer_status]
        if not any(200 <= x < 300 for x in codes):
            raise Failed(f"1002 never saw a 2xx transfer NOTIFY (saw {b1.xfer_status})")
        if len(self.phones["1003"].calls) != 1:
            raise Failed(f"1003 has {len(self.phones['1003'].calls)} calls, expected its one call kept")
        self.check_talking(a, "1001", c, "1003")
        self.finish(a, [(c, "1003")])

    def close(self):
        try:
            self.ep.hangupAllCalls()
            self.pump(0.5)
            for p in self.phones.values():
                p.acc.shutdown()
            self.pump(0.3)
        except Exception as e:  # best effort
            say(f"cleanup: {e}")
        shutil.rmtree(self.tmp, ignore_errors=True)


def goertzel(samples, rate, f):
    k = 2.0 * math.cos(2.0 * math.pi * f / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / (len(samples) ** 2 or 1)


def read_wav(path):
    with wave.open(path, "rb") as w:
        return w.getframerate(), w.readframes(w.getnframes())


def tone_powers(rate, data):
    n = len(data) // 2
    samples = [int.from_bytes(data[2 * i:2 * i + 2], "little", signed=True) / 32768.0 for i in range(n)]
    samples = samples[len(samples) // 4:]  # skip the start (jitter buffer filling)
    if len(samples) < rate // 2:
        raise Failed(f"recording too short ({len(samples)} samples)")
    return {e: goertzel(samples, rate, f) for e, f in TONES.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zvon", required=True, help="HOST:PORT of Zvon's UDP listener")
    ap.add_argument("--scenario", required=True, choices=["blind", "attended"])
    ap.add_argument("--log-level", type=int, default=1, help="pjsua log level (5 = SIP trace)")
    ap.add_argument("--log-file", help="write the pjsua log here instead of the console")
    args = ap.parse_args()
    rc = 0
    h = None
    try:
        h = Harness(args)
        h.register_all()
        getattr(h, args.scenario)()
        say(f"PASS: {args.scenario} transfer")
    except Failed as e:
        say(f"FAIL: {e}")
        rc = 1
    except pj.Error as e:
        say(f"FAIL: pjsua error: {e.info()}")
        rc = 1
    except Exception as e:  # a bug in this script: still exit cleanly with a message
        import traceback
        traceback.print_exc()
        say(f"FAIL: {type(e).__name__}: {e}")
        rc = 1
    finally:
        if h is not None:
            h.close()
    sys.stdout.flush()
    # libDestroy from Python at exit is crash-prone with live SWIG objects: leave hard.
    os._exit(rc)


if __name__ == "__main__":
    main()
