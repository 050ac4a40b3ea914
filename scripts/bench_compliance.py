#!/usr/bin/env python3
"""Script-compliance benchmark on synthetic calls with known answers.

Generates stereo calls (agent left, customer right) with espeak-ng voices: each required phrase of
examples/card-services.json is said exactly, paraphrased, in ASR-hostile wording (fast speech,
acronyms, jargon) or not at all; sometimes the agent makes a forbidden guarantee; the customer ends
the call pleased or angry. Every other call is degraded to a telephone line (300-3400 Hz,
background noise, 8 kHz mu-law). Runs `callsight analyze --script` on all calls in one process and
writes compliance.json (see callsight_eval::report::ComplianceResults): expected and actual
outcome per (call, rule), with where the phrase was said and where the evidence points.

Standard library only; needs espeak-ng and sox.
"""
import argparse
import json
import os
import random
import subprocess

from bench_common import duration_secs, run

SAMPLE_RATE_HZ = 16000
GAP_SECS = 0.6

# rule id -> wording -> (text, espeak speed in words per minute)
WORDINGS = {
    "greeting": {
        "exact": ("Thank you for calling Card Services, my name is Sam.", 165),
        "paraphrase": ("Hello and thanks a lot for getting in touch with Card Services, Sam here.", 165),
        "asr-hostile": ("Thank you for calling C.S.B. Kard Servicez, Siobhan speaking.", 230),
    },
    "recording-disclosure": {
        "exact": ("Please note this call may be recorded for quality and training purposes.", 165),
        "paraphrase": ("Just so you know, we record our conversations to train our staff and to check quality.", 165),
        "asr-hostile": ("F.Y.I. this call's recorded for Q.A. and training purposes.", 230),
        "negated": ("Just so you know, this call is not being recorded.", 165),
    },
    "identity-check": {
        "exact": ("Can you confirm your date of birth please?", 165),
        "paraphrase": ("Before we go any further, could you tell me when you were born?", 165),
        "asr-hostile": ("Can you confirm your D.O.B., that's your date of birth?", 230),
    },
    "closing": {
        "exact": ("Is there anything else I can help you with?", 165),
        "paraphrase": ("Can I help you with anything more today?", 165),
        "asr-hostile": ("Anything else I can help y'all with, pal?", 230),
    },
    "no-guarantees": {
        "exact": ("I guarantee the money will be back tomorrow.", 165),
        "paraphrase": ("I promise you, one hundred percent, the money will be back tomorrow.", 165),
        "asr-hostile": ("I guarantee it, the dosh lands tomorrow, no worries.", 230),
    },
}
CUSTOMER_END = {
    "positive": "No, that's all. That was really helpful, thank you so much, I'm very happy.",
    "negative": "No. This has been a terrible experience, I am really angry and I will close my account.",
}
AGENT_VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-gb-scotland+f2", "en-029"]
CUSTOMER_VOICES = ["en-gb-x-gbclan", "en-us+m3", "en-gb+f4", "en-us+f2", "en-gb-x-gbcwmd"]
REQUIRED = ["greeting", "recording-disclosure", "identity-check", "closing"]


def speak(text, voice, speed, target):
    raw = target + ".raw.wav"
    run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text])
    run(["sox", raw, "-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", target])
    os.remove(raw)


def silence(secs, target):
    run(["sox", "-n", "-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", target, "trim", "0", f"{secs:.3f}"])


def plan_call(rng, call_idx):
    """The turns of one call and the expected outcome of each rule."""
    choice = {rule: rng.choices(["exact", "paraphrase", "asr-hostile", "absent"], [3, 3, 2, 2])[0] for rule in REQUIRED}
    if choice["recording-disclosure"] == "absent" and rng.random() < 0.5:
        choice["recording-disclosure"] = "negated"
    choice["no-guarantees"] = rng.choice(["exact", "paraphrase", "asr-hostile"]) if rng.random() < 0.35 else "absent"
    mood = rng.choice(["positive", "negative"])
    turns = []  # (party, rule or None, text, speed)

    def agent_rule(rule):
        if choice[rule] in ("absent",):
            return
        text, speed = WORDINGS[rule][choice[rule]]
        turns.append(("agent", rule, text, speed))

    if choice["greeting"] == "absent":
        turns.append(("agent", None, "Card Services, Sam speaking.", 165))
    agent_rule("greeting")
    agent_rule("recording-disclosure")
    turns.append(("customer", None, "Hi, my card was declined at the supermarket yesterday and I don't know why.", 160))
    agent_rule("identity-check")
    turns.append(("customer", None, "Yes, it's the fourth of July, nineteen eighty.", 160))
    turns.append(("agent", None, "Thanks. I can see a blocked payment on your account. I have removed the block now.", 165))
    agent_rule("no-guarantees")
    agent_rule("closing")
    if choice["closing"] == "absent":
        turns.append(("agent", None, "Right, goodbye then.", 165))
    turns.append(("customer", "customer-not-left-negative", CUSTOMER_END[mood], 160))

    said = {rule: choice[rule] not in ("absent", "negated") for rule in choice}
    expected = {rule: said[rule] for rule in REQUIRED}
    expected["no-guarantees"] = not said["no-guarantees"]
    expected["order"] = said["greeting"] and said["identity-check"] and said["closing"]
    expected["customer-not-left-negative"] = mood == "positive"
    wording = dict(choice)
    wording["order"] = "sequence"
    wording["customer-not-left-negative"] = f"customer {mood}"
    return turns, expected, wording


def build_call(turns, agent_voice, customer_voice, telephone, work, name):
    agent_parts, customer_parts, starts = [], [], {}
    clock = 0.5
    lead = os.path.join(work, f"{name}-lead.wav")
    silence(0.5, lead)
    agent_parts.append(lead)
    customer_parts.append(lead)
    gap = os.path.join(work, f"{name}-gap.wav")
    silence(GAP_SECS, gap)
    for idx, (party, rule, text, speed) in enumerate(turns):
        speech = os.path.join(work, f"{name}-turn{idx:02d}.wav")
        speak(text, agent_voice if party == "agent" else customer_voice, speed, speech)
        length = duration_secs(speech)
        quiet = os.path.join(work, f"{name}-quiet{idx:02d}.wav")
        silence(length, quiet)
        if rule is not None:
            starts[rule] = clock
        agent_parts += [speech if party == "agent" else quiet, gap]
        customer_parts += [speech if party == "customer" else quiet, gap]
        clock += length + GAP_SECS
    agent_track = os.path.join(work, f"{name}-agent.wav")
    customer_track = os.path.join(work, f"{name}-customer.wav")
    run(["sox", *agent_parts, agent_track])
    run(["sox", *customer_parts, customer_track])
    stereo = os.path.join(work, f"{name}-stereo.wav")
    run(["sox", "-M", agent_track, customer_track, stereo])
    target = os.path.join(work, "calls", f"{name}.wav")
    if telephone:
        noise = os.path.join(work, f"{name}-noise.wav")
        run(["sox", "-n", "-r", str(SAMPLE_RATE_HZ), "-c", "2", "-b", "16", noise, "synth", f"{clock + 0.5:.3f}", "pinknoise", "vol", "0.03"])
        mixed = os.path.join(work, f"{name}-mixed.wav")
        run(["sox", "-m", stereo, noise, mixed, "trim", "0", f"{duration_secs(stereo):.3f}"])
        run(["sox", mixed, "-r", "8000", "-e", "mu-law", "-b", "8", target, "sinc", "300-3400"])
    else:
        os.replace(stereo, target)
    return target, starts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--script", default="examples/card-services.json")
    parser.add_argument("--callsight", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.work, "calls"), exist_ok=True)
    os.makedirs(os.path.join(args.work, "reports"), exist_ok=True)
    plans = []
    for call_idx in range(args.calls):
        name = f"call-{call_idx + 1:02d}"
        turns, expected, wording = plan_call(rng, call_idx)
        agent_voice = AGENT_VOICES[call_idx % len(AGENT_VOICES)]
        customer_voice = CUSTOMER_VOICES[call_idx % len(CUSTOMER_VOICES)]
        telephone = call_idx % 2 == 1
        path, starts = build_call(turns, agent_voice, customer_voice, telephone, args.work, name)
        plans.append((name, path, expected, wording, starts, agent_voice, "telephone" if telephone else "clean"))
        print(f"generated {path}", flush=True)

    reports_dir = os.path.join(args.work, "reports")
    subprocess.run(
        [args.callsight, "--threads", str(args.threads), "analyze", "--script", args.script, "--language", "en",
         "--format", "json", "--out", reports_dir, *[plan[1] for plan in plans]],
        check=True,
    )
    with open(args.script, encoding="utf-8") as handle:
        kinds = {rule["id"]: rule["kind"] for rule in json.load(handle)["rules"]}
    items = []
    for name, path, expected, wording, starts, voice, channel in plans:
        report_path = os.path.join(reports_dir, f"{name}.json")
        outcomes = {}
        if os.path.isfile(report_path):
            with open(report_path, encoding="utf-8") as handle:
                report = json.load(handle)
            for rule in (report.get("compliance") or {}).get("rules", []):
                outcomes[rule["id"]] = rule
        for rule, expected_pass in expected.items():
            outcome = outcomes.get(rule)
            evidence = (outcome or {}).get("evidence") or []
            items.append(
                {
                    "call": name,
                    "rule": rule,
                    "kind": kinds.get(rule, "unknown"),
                    "wording": wording[rule],
                    "channel": channel,
                    "voice": voice,
                    "expected_pass": expected_pass,
                    "passed": outcome["passed"] if outcome else None,
                    "said_at_secs": starts.get(rule) if wording[rule] not in ("absent", "negated", "sequence") else None,
                    "evidence_at_secs": evidence[0]["start_secs"] if evidence else None,
                }
            )
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"script": args.script, "n_calls": len(plans), "items": items}, handle, indent=2)
    print(args.out)


if __name__ == "__main__":
    main()
