#!/usr/bin/env python3
"""Turns the raw results of one bench/run (OUT/results.jsonl, OUT/meta.json, OUT/wrk-*.txt)
into the tables it prints and writes to OUT/report.md. Standard library only."""

import json
import re
import sys
from pathlib import Path

ROWS = [
    ("discovery", "discovery"),
    ("jwks", "JWKS"),
    ("client_credentials", "client_credentials (RS256 JWT)"),
    ("refresh", "refresh_token grant"),
    ("userinfo", "userinfo"),
    ("introspection", "introspection"),
    ("authcode", "auth-code round trip, SSO session"),
    ("login_form", "password login, hosted form"),
    ("login_api", "password login, JSON API"),
    ("meet_token", "Meet join token (`POST /api/v1/meet/token`)"),
    ("docs_list", "Docs folder listing (`GET /api/v1/docs/files`, 20 entries, through WebDAV)"),
    ("mail_inbox", "Mail inbox page (`GET /api/v1/mail/inbox`, 20 of 50 messages, through Dovecot)"),
    ("calendar_events", "Calendar month (`GET /api/v1/calendar/events`, 40 events, 4 all-day, 3 series, through CalDAV)"),
    ("login_form_overload", "password login, hosted form, overload"),
    ("login_form_overload_lockstep", "the same overload, lockstep retries"),
]
OVERLOAD = {"login_form_overload": "", "login_form_overload_lockstep": " with lockstep retries (a herd)"}
# RS256 signatures per operation (access token, ID token).
SIGNATURES = {"client_credentials": 1, "refresh": 2, "authcode": 2}
NO_PEER = {
    "login_api": "n/a: oidc-provider has no first-party password endpoint (its password grant was removed)",
    "login_form_overload_lockstep": "n/a: oidc-provider refuses no login, so its clients have nothing to retry",
    "meet_token": "n/a: oidc-provider has no Meet API (LiveKit join tokens are bheem-sso's own)",
    "docs_list": "n/a: oidc-provider has no Docs API (the listing is bheem-sso's, through a WebDAV server)",
    "mail_inbox": "n/a: oidc-provider has no Mail API (the page is bheem-sso's, read over IMAP from Dovecot)",
    "calendar_events": "n/a: oidc-provider has no Calendar API (the month is bheem-sso's, read over CalDAV from Radicale)",
}


def load(out):
    results = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        results[(r["db"], r["row"], r["server"])] = r
    meta = json.loads((out / "meta.json").read_text())
    near = {}
    path = out / "argon2.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                a = json.loads(line)
                near.setdefault(a["db"], {})[a["when"]] = a["argon2"]
    meta["argon2_near"] = near
    return results, meta


def argon2_limit(meta, db):
    """The argon2 limit a database's login rows are judged by: the higher of the two taken beside
    them (before and after), the stricter bound; the start of the run's in a run without them."""
    near = meta.get("argon2_near", {}).get(db, {})
    if not near:
        return meta["argon2"], "at the start of the run"
    when, a = max(near.items(), key=lambda kv: kv[1]["limit_per_s"])
    both = " (the higher of the figures taken before and after them)" if len(near) > 1 else ""
    return a, f"{when} this database's login rows{both}"


def mb(kb):
    return f"{kb / 1024:.1f}" if kb else "–"


def fmt_rps(r):
    return f"{r['result']['rps']:,.0f}" if r else "–"


def wrk_summary(path):
    text = path.read_text()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if not m:
            return None
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    errors = int(non2xx.group(1)) if non2xx else 0
    if errs:
        errors += sum(int(x) for x in errs.groups())
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": pct(50),
        "p99": pct(99),
        "errors": errors,
    }


def ms(x):
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def table(results, meta, db):
    lines = []
    conns = meta["conns"]
    lines.append(
        f"### bheem-sso on {db_name(db)} vs oidc-provider {meta.get('peer_version', '')} "
        f"(in memory), {conns} connections, {meta['duration']} s after {meta['warmup']} s warm-up"
    )
    lines.append("")
    lines.append(
        "| row | bheem-sso req/s | peer req/s | bheem/peer | bheem p50 / p99 ms | peer p50 / p99 ms "
        "| errors bheem / peer (+ refused with 503/429 and Retry-After) | peak RSS MB bheem / peer |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, label in ROWS:
        b = results.get((db, key, "bheem"))
        p = results.get((db, key, "peer"))
        if not b and not p:
            continue
        if key in OVERLOAD:
            c = (b or p)["result"]["conns"]
            label = f"{label} ({c} connections)"
        br, pr = (b or {}).get("result"), (p or {}).get("result")
        ratio = (
            f"{br['rps'] / pr['rps']:.2f}×"
            if br and pr and pr["rps"] > 0
            else ("n/a" if key in NO_PEER else "–")
        )
        lat = lambda r: f"{ms(r['p50_ms'])} / {ms(r['p99_ms'])}" if r else "n/a"
        def err(r):
            if not r:
                return "n/a"
            text = str(r["errors"] + r.get("prep_failures", 0))
            text += f" (+{r['shed']} shed)" if r.get("shed") else ""
            # Setting-up logins refused with Retry-After and let in on coming back.
            return text + (f" (+{r['prep_shed']} shed in setup)" if r.get("prep_shed") else "")
        lines.append(
            f"| {label} | {fmt_rps(b)} | {fmt_rps(p) if p else 'n/a'} | {ratio} | {lat(br)} | {lat(pr)} "
            f"| {err(br)} / {err(pr)} | {mb((b or {}).get('hwm_kb'))} / {mb((p or {}).get('hwm_kb')) if p else 'n/a'} |"
        )
    alone = [
        f"{label}: {NO_PEER[key].removeprefix('n/a: ')}"
        for key, label in ROWS
        if key in NO_PEER and results.get((db, key, "bheem")) and not results.get((db, key, "peer"))
    ]
    if alone:
        lines.append("")
        lines.append("Rows without a peer figure (n/a): " + "; ".join(alone) + ".")
    idle = meta["idle"][db]
    lines.append("")
    lines.append(
        f"Idle RSS after start-up: bheem-sso {mb(idle['bheem'])} MB, peer {mb(idle['peer'])} MB. "
        "Peak RSS is the process's VmHWM read after each row, so it is the peak so far."
    )
    # Where the CPU went: the driver and both servers share the machine's cores.
    lines.append("")
    lines.append(
        "| row | bheem-sso CPU ms/op | peer CPU ms/op | bheem-sso cores busy | peer cores busy "
        "| driver cores busy (bheem / peer run) | everything else, cores busy (bheem / peer run) |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, label in ROWS:
        b = results.get((db, key, "bheem"))
        p = results.get((db, key, "peer"))
        if not b and not p:
            continue

        def per_op(x):
            if not x or x["result"].get("server_cpu_s") is None or not x["result"]["ops"]:
                return "–"
            return f"{1000 * x['result']['server_cpu_s'] / x['result']['ops']:.3f}"

        def busy(x, k):
            if not x or x["result"].get(k) is None:
                return "–"
            return f"{x['result'][k] / x['result']['duration_s']:.2f}"

        def rest(x):
            if not x:
                return "–"
            r = x["result"]
            if r.get("machine_cpu_s") is None or r.get("server_cpu_s") is None or r.get("driver_cpu_s") is None:
                return "–"
            return f"{max(0.0, r['machine_cpu_s'] - r['server_cpu_s'] - r['driver_cpu_s']) / r['duration_s']:.2f}"

        lines.append(
            f"| {label} | {per_op(b)} | {per_op(p)} | {busy(b, 'server_cpu_s')} | {busy(p, 'server_cpu_s')} "
            f"| {busy(b, 'driver_cpu_s')} / {busy(p, 'driver_cpu_s')} | {rest(b)} / {rest(p)} |"
        )
    samples = []
    for key, _ in ROWS:
        for server in ("bheem", "peer"):
            r = results.get((db, key, server))
            if r and r["result"].get("error_samples"):
                samples.append(f"- {server} {key}: " + "; ".join(r["result"]["error_samples"][:3]))
    if samples:
        lines.append("")
        lines.append("Error samples:")
        lines.extend(samples)
    return lines


def db_name(db):
    return {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(db, db)


def rsa_ceiling_one_core(meta):
    """RSA-2048 signatures/s on one core: the faster of `openssl speed` and bheem-sso's own signer
    (OpenSSL through the openssl crate), so the ceiling is the machine's, not a slow library's."""
    rsa = meta["rsa"]
    return max(rsa.get("openssl_sign_per_s_one_core", 0), rsa.get("openssl", {}).get("sign_per_s_one_core", 0))


def ceilings(results, meta, db):
    lines = []
    rsa = meta["rsa"]
    cores = meta["cores"]
    machine = rsa_ceiling_one_core(meta) * cores
    lines.append(f"#### Ceilings on {db_name(db)}: RS256 signing and argon2")
    lines.append("")
    lines.append(
        "RSA ceiling of a row = RSA-2048 signatures/s on one core × {c} cores ÷ signatures per operation, "
        "with the faster of `openssl speed rsa2048` and bheem-sso's signer (OpenSSL through the openssl "
        "crate; Node.js signs with OpenSSL too).".format(c=cores)
    )
    lines.append("")
    lines.append(
        "| row | signatures per op | RSA ceiling op/s | bheem-sso op/s | bheem-sso % of ceiling "
        "| peer op/s | peer % of ceiling |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, sigs in SIGNATURES.items():
        b = results.get((db, key, "bheem"))
        p = results.get((db, key, "peer"))
        ceiling = machine / sigs
        label = dict(ROWS)[key]
        bp = f"{100 * b['result']['rps'] / ceiling:.0f}%" if b else "–"
        pp = f"{100 * p['result']['rps'] / ceiling:.0f}%" if p else ("n/a" if key in NO_PEER else "–")
        lines.append(
            f"| {label} | {sigs} | {ceiling:,.0f} | {fmt_rps(b)} | {bp} | {fmt_rps(p) if p else 'n/a'} | {pp} |"
        )
    a, when = argon2_limit(meta, db)
    lines.append("")
    limit = a["limit_per_s"]
    lines.append(
        f"argon2id m={a['memory_kib']} KiB, t={a['iterations']}, p={a['parallelism']}: one hash "
        f"{a['hash_ms_median']} ms (RustCrypto `argon2`, bheem-sso's implementation), timed {when}, "
        f"so the limit is {cores} cores ÷ {a['hash_ms_median']} ms = **{limit:.1f} logins/s** "
        f"(all cores hashing at once measured {a['all_cores_measured_per_s']:.1f}/s)."
    )
    taken = [("at the start of the run", meta["argon2"])] + [
        (f"{w} the login rows", x) for w, x in sorted(meta.get("argon2_near", {}).get(db, {}).items(), reverse=True)
    ]
    if len(taken) > 1:
        lines.append(
            "One hash as timed "
            + "; ".join(f"{w}: {x['hash_ms_median']} ms ({x['limit_per_s']:.1f}/s)" for w, x in taken)
            + "."
        )
    peer_hash = meta.get("peer_argon2_ms")
    for key in ("login_form", "login_api"):
        b = results.get((db, key, "bheem"))
        if b:
            lines.append(
                f"- {dict(ROWS)[key]}: bheem-sso {b['result']['rps']:.1f}/s = "
                f"**{100 * b['result']['rps'] / limit:.0f}%** of the argon2 limit"
            )
    p = results.get((db, "login_form", "peer"))
    if p and peer_hash:
        peer_limit = cores * 1000 / peer_hash
        lines.append(
            f"- {dict(ROWS)['login_form']}: peer {p['result']['rps']:.1f}/s = "
            f"{100 * p['result']['rps'] / limit:.0f}% of the same limit; its own hash (node `argon2`, "
            f"reference C) takes {peer_hash:.1f} ms, a limit of {peer_limit:.1f}/s, of which it reaches "
            f"{100 * p['result']['rps'] / peer_limit:.0f}%"
        )
    return lines


def targets(results, meta, db):
    """The issue's targets, each met or missed, from the figures of this run."""
    out = []

    def get(key, server):
        r = results.get((db, key, server))
        return r["result"] if r else None

    compared = [k for k, _ in ROWS if k not in OVERLOAD and get(k, "bheem") and get(k, "peer")]
    behind = [k for k in compared if get(k, "bheem")["rps"] <= get(k, "peer")["rps"]]
    # A run of rows the peer has no figure for (BENCH_ROWS=meet_token) compares nothing.
    if compared:
        out.append(
            ("ahead of the peer on every row", not behind,
             "behind on " + ", ".join(behind) if behind else f"ahead on all {len(compared)} compared rows")
        )
    for key in ("discovery", "jwks", "userinfo", "introspection"):
        b, p = get(key, "bheem"), get(key, "peer")
        if b and p and p["rps"]:
            ratio = b["rps"] / p["rps"]
            out.append((f"≥3× the peer on {key}", ratio >= 3, f"{ratio:.2f}×"))
    machine = rsa_ceiling_one_core(meta) * meta["cores"]
    for key, sigs in SIGNATURES.items():
        b = get(key, "bheem")
        if b:
            share = b["rps"] / (machine / sigs)
            out.append((f"≥85% of the RSA ceiling on {key}", share >= 0.85, f"{100 * share:.0f}% of {machine / sigs:,.0f}/s"))
    for key in ("client_credentials", "refresh"):
        b = get(key, "bheem")
        if b:
            ok = b["p99_ms"] < 20 and b["errors"] == 0
            out.append(
                (f"token endpoint ({key}): p99 < 20 ms at {b['conns']} connections, zero errors", ok,
                 f"p99 {ms(b['p99_ms'])} ms, {b['errors']} errors")
            )
    idle = meta["idle"][db]["bheem"]
    out.append(("peak RSS < 50 MB idle", idle < 50 * 1024, f"{mb(idle)} MB"))
    peak = max((r["hwm_kb"] for (d, _, s), r in results.items() if d == db and s == "bheem"), default=0)
    out.append(("peak RSS < 150 MB under load", peak < 150 * 1024, f"{mb(peak)} MB"))
    limit = argon2_limit(meta, db)[0]["limit_per_s"]
    for key in ("login_form", "login_api"):
        b = get(key, "bheem")
        if b:
            share = b["rps"] / limit
            out.append((f"{key}: ≥80% of the argon2 limit", share >= 0.8, f"{100 * share:.0f}%"))
    for key, how in OVERLOAD.items():
        o = get(key, "bheem")
        if not o:
            continue
        shed = o.get("shed", 0)
        # Prompt: nearly every refusal (p99, timed over the whole authorize → login page → POST
        # sequence) within 100 ms, nothing fails otherwise, and the logins let in wait under 2 s.
        out.append(
            (f"prompt 429/503 under excess load ({o['conns']} connections){how}",
             shed > 0 and o["errors"] == 0 and o.get("shed_p99_ms", 1e9) < 100 and o["p99_ms"] < 2000,
             f"{shed} refused (p99 {ms(o.get('shed_p99_ms'))} ms to the 503), {o['errors']} errors; "
             f"served: {o['rps']:.0f}/s, p50 {ms(o['p50_ms'])} ms, p99 {ms(o['p99_ms'])} ms"
             + (" (requests queue instead of being refused)" if shed == 0 else ""))
        )
    lines = [f"#### Targets on {db_name(db)}", "", "| target | result | figure |", "| --- | --- | --- |"]
    for name, ok, figure in out:
        lines.append(f"| {name} | {'met' if ok else '**missed**'} | {figure} |")
    return lines


def scale_table(out):
    path = out / "scale.jsonl"
    if not path.exists() or not path.read_text().strip():
        return []
    lines = [
        "### Scale-out: one and two bheem-sso nodes on the same PostgreSQL",
        "",
        "The same total connections: one node with all of them, then two nodes with half each, loaded at "
        "the same time (two drivers). Both nodes, PostgreSQL and the drivers share the same cores.",
        "",
        "| row | one node req/s | one node p99 ms | two nodes req/s (node 1 + node 2) | two nodes p99 ms "
        "| two / one | errors one / two | bheem-sso CPU ms/op one / two |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        one, (a, b) = r["one"], r["two"]
        total = a["rps"] + b["rps"]
        cpu = lambda x: (x.get("server_cpu_s") or 0) * 1000
        one_cpu = cpu(one) / max(one["ops"], 1)
        two_cpu = (cpu(a) + cpu(b)) / max(a["ops"] + b["ops"], 1)
        lines.append(
            f"| {dict(ROWS).get(r['row'], r['row'])} | {one['rps']:,.0f} | {ms(one['p99_ms'])} "
            f"| {total:,.0f} ({a['rps']:,.0f} + {b['rps']:,.0f}) | {ms(max(a['p99_ms'], b['p99_ms']))} "
            f"| {total / one['rps'] if one['rps'] else 0:.2f}× | {one['errors']} / {a['errors'] + b['errors']} "
            f"| {one_cpu:.3f} / {two_cpu:.3f} |"
        )
    return lines


def main():
    out = Path(sys.argv[1])
    results, meta = load(out)
    lines = []
    lines.append(f"## bench/run {meta['date']}")
    lines.append("")
    lines.append(f"- machine: {meta['machine']}")
    lines.append(f"- load average before: {meta['load_before']}; after: {meta.get('load_after', '?')}")
    if meta.get("bheem_env"):
        lines.append(f"- bheem-sso ran with the environment `{meta['bheem_env']}` (a diagnosis run)")
    if "metrics" in meta:
        state = "on (`metrics_listen` set)" if meta["metrics"] else "off (BENCH_METRICS=0)"
        lines.append(f"- bheem-sso's Prometheus metrics: {state}")
    lines.append(f"- bheem-sso {meta['bheem_rev']}; peer: oidc-provider {meta.get('peer_version', '?')} on Node.js {meta.get('node', '?')}")
    lines.append(
        f"- load generator: bench/driver (Rust, hyper, {meta['driver_threads']} threads, closed loop), "
        f"{meta['conns']} connections, {meta['warmup']} s warm-up + {meta['duration']} s per row, "
        "one server loaded at a time; both servers and the driver share the machine's cores"
    )
    rsa = meta["rsa"]
    lines.append(
        f"- RSA-2048 signatures/s on one core: `openssl speed` {rsa.get('openssl_sign_per_s_one_core', 0):,.0f}; "
        f"bheem-sso's signer (openssl crate) {rsa['openssl']['sign_per_s_one_core']:,.0f} "
        f"(both cores at once: {rsa['openssl']['sign_per_s_all_cores_measured']:,.0f}); "
        f"ring, which jsonwebtoken signs with, {rsa['ring']['sign_per_s_one_core']:,.0f}"
    )
    for db in meta["databases"]:
        lines.append("")
        lines.extend(table(results, meta, db))
        lines.append("")
        lines.extend(ceilings(results, meta, db))
        lines.append("")
        lines.extend(targets(results, meta, db))
    scale = scale_table(out)
    if scale:
        lines.append("")
        lines.extend(scale)
    wrk_files = sorted(out.glob("wrk-*.txt"))
    if wrk_files:
        lines.append("")
        lines.append("#### Cross-check with wrk (same rows, wrk instead of bench/driver)")
        lines.append("")
        lines.append("| server / row | req/s | p50 / p99 ms | errors | bench/driver req/s |")
        lines.append("| --- | ---: | ---: | ---: | ---: |")
        for f in wrk_files:
            _, server, row = f.stem.split("-", 2)
            w = wrk_summary(f)
            d = results.get((meta["databases"][0], row, server))
            lines.append(
                f"| {server} {row} | {w['rps']:,.0f} | {ms(w['p50'])} / {ms(w['p99'])} | {w['errors']} "
                f"| {fmt_rps(d)} |"
            )
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
