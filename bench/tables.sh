# The markdown of bench/run (sourced by it): `tables` prints every scenario's table from the
# figures in R[run.key], with the issue's targets next to them.

us() { # MICROSECONDS -> 850 us, 1.25 ms, 2.00 s
    awk -v u="$1" 'BEGIN { if (u < 1000) printf "%.0f us", u; else if (u < 1e6) printf "%.2f ms", u / 1000; else printf "%.2f s", u / 1e6 }'
}
int() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
met() { # AWK_CONDITION VARS...: "yes" or "**no**"
    local cond=$1
    shift
    awk "$@" "BEGIN { print (($cond) ? \"yes\" : \"**no**\") }"
}
cell() { echo "${1//|//}"; } # a failure text inside a table cell
cores() { awk -v c="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f", c / s; else printf "-" }'; }
per_reply() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f us", c * 1e6 / n; else printf "-" }'; } # CPU_S REPLIES

header() {
    echo "# iotchat bench results"
    echo
    echo "- Machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r), $(rustc --version)"
    echo "- iotchat $(git_describe), $(date -u +%Y-%m-%dT%H:%MZ); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "- Command: \`$command\` (release build; $duration of load per run after the connections are open; the whole suite took ${suite_s}s)"
    echo "- Every run gets a fresh server on a free loopback port (\`iotchat serve -q\` with a fresh data directory, the"
    echo "  tokio baseline \`examples/baseline.rs\`, the bare C epoll server \`bench/srv_epoll.c\` (\`cc -O2\`), or"
    echo "  redis-server), $(pinning). The servers take turns going first, scenario by scenario (column \"first\")."
    echo "  Failures = mismatches + errors + unanswered."
    echo
}

pinning() {
    if ((pinned)); then
        echo "each server pinned to core 0 and \`iotchat bench\` to core 1 (taskset; not in scenario 5)"
    else
        echo "unpinned (no taskset, or one core): the bench client runs on the same cores"
    fi
}

# epoll_table: iotchat against the bare C epoll server, issue 20's target 3 (≥ 0.95 of its
# replies/s at 1000 connections and at pipeline 16, server CPU per reply ≤ 1.15× of it).
epoll_table() {
    local s c p i e
    echo "### Against the bare C epoll server"
    echo
    echo "\`bench/srv_epoll.c\`: one thread, level-triggered epoll, upper-cases each line, no limits: the floor of what a"
    echo "server can cost. Targets (issue 20) at 1000 connections and at pipeline 16: replies/s ≥ 0.95× and server"
    echo "CPU per reply ≤ 1.15× of it."
    echo
    echo "| scenario | iotchat replies/s | epoll replies/s | ratio | server CPU/reply iotchat / epoll | CPU ratio | failures epoll | targets met |"
    echo "|---|---:|---:|---:|---:|---:|---|---|"
    for s in "1 1" "50 1" "1000 1" "50 16"; do
        read -r c p <<<"$s"
        i=chat$c.$p.i e=chat$c.$p.e
        echo "| $c conn, pipeline $p | $(int "${R[$i.replies_per_s]}") | $(int "${R[$e.replies_per_s]}") | $(div "${R[$i.replies_per_s]}" "${R[$e.replies_per_s]}")" \
            "| $(per_reply "${R[$i.server_cpu]}" "${R[$i.replies]}") / $(per_reply "${R[$e.server_cpu]}" "${R[$e.replies]}")" \
            "| $(cpu_ratio "$i" "$e") | $(cell "${R[$e.failures]}")" \
            "| $(if [ "$s" = "1000 1" ] || [ "$s" = "50 16" ]; then met 'ir >= 0.95 * er && c <= 1.15 && fi == "0"' \
                -v ir="${R[$i.replies_per_s]}" -v er="${R[$e.replies_per_s]}" -v c="$(cpu_ratio "$i" "$e")" \
                -v fi="${R[$i.failures]}"; else echo "(no target)"; fi) |"
    done
    echo
}

cpu_ratio() { # RUN_A RUN_B: CPU per reply of A / of B
    awk -v ca="${R[$1.server_cpu]}" -v na="${R[$1.replies]}" -v cb="${R[$2.server_cpu]}" -v nb="${R[$2.replies]}" \
        'BEGIN { if (na > 0 && nb > 0 && cb > 0) printf "%.2f", (ca / na) / (cb / nb); else printf "-" }'
}

chat_table() {
    local s r i b
    echo "## 1. Chat, closed loop, 32-byte lines"
    echo
    echo "Server CPU per reply (CPU time of the server process / replies) is the figure least disturbed by other load on the machine."
    echo
    echo "| scenario | first | iotchat replies/s | baseline replies/s | ratio (target ≥ 0.9) | iotchat p50 | baseline p50 | iotchat p99 | baseline p99 | p99 ratio (target ≤ 1.2) | server CPU/reply iotchat / baseline | failures iotchat / baseline | targets met |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    for s in "1 1" "50 1" "1000 1" "50 16"; do
        read -r c p <<<"$s"
        r=chat$c.$p i=chat$c.$p.i b=chat$c.$p.b
        echo "| $c conn, pipeline $p | ${R[$r.first]} | $(int "${R[$i.replies_per_s]}") | $(int "${R[$b.replies_per_s]}")" \
            "| $(div "${R[$i.replies_per_s]}" "${R[$b.replies_per_s]}") | $(us "${R[$i.p50_us]}") | $(us "${R[$b.p50_us]}")" \
            "| $(us "${R[$i.p99_us]}") | $(us "${R[$b.p99_us]}") | $(div "${R[$i.p99_us]}" "${R[$b.p99_us]}")" \
            "| $(per_reply "${R[$i.server_cpu]}" "${R[$i.replies]}") / $(per_reply "${R[$b.server_cpu]}" "${R[$b.replies]}")" \
            "| $(cell "${R[$i.failures]}") / $(cell "${R[$b.failures]}")" \
            "| $(met 'ir >= 0.9 * br && ip <= 1.2 * bp && fi == "0"' -v ir="${R[$i.replies_per_s]}" -v br="${R[$b.replies_per_s]}" \
                -v ip="${R[$i.p99_us]}" -v bp="${R[$b.p99_us]}" -v fi="${R[$i.failures]}") |"
    done
    echo
}

c10k_table() {
    local k name
    echo "## 2. 10,000 connections, one 32-byte message per second each (open loop)"
    echo
    if [ -n "${R[c10k.skipped]:-}" ]; then
        echo "${R[c10k.skipped]}"
        echo
        return
    fi
    echo "First: ${R[c10k.first]}. Targets: every message answered, p99 < 20 ms, server RSS < 32 MiB (peak, VmHWM; issue 20, was 64 MiB)."
    echo
    echo "| server | connections open in | sent | answered | failures | p50 | p90 | p99 | p99.9 | max | RSS (largest sampled VmRSS) | peak RSS (VmHWM) | server CPU (cores) | targets met |"
    echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for k in i b e; do
        case $k in i) name=iotchat ;; b) name=baseline ;; e) name="C epoll" ;; esac
        k=c10k.$k
        echo "| $name | $(awk -v s="${R[$k.connect_s]}" 'BEGIN {printf "%.2f s", s}') | ${R[$k.sent]} | ${R[$k.replies]} | $(cell "${R[$k.failures]}") | $(us "${R[$k.p50_us]}") | $(us "${R[$k.p90_us]}")" \
            "| $(us "${R[$k.p99_us]}") | $(us "${R[$k.p99_9_us]}") | $(us "${R[$k.max_us]}") | $(mib "${R[$k.rss]}") | $(mib "${R[$k.hwm]}")" \
            "| $(cores "${R[$k.server_cpu]}" "${R[$k.elapsed_s]}")" \
            "| $([ "$name" = iotchat ] && met 'f == "0" && p < 20000 && h < 32768' -v f="${R[$k.failures]}" -v p="${R[$k.p99_us]}" -v h="${R[$k.hwm]}" || echo "(reference)") |"
    done
    echo
}

readings_table() {
    local k what
    echo "## 3. Readings into the durable store, 100 devices closed loop"
    echo
    echo "Each device sends \`HELLO bench-<i>\`, then \`t=<n> ts=<ms>\` readings; the ack is the echo, sent once the"
    echo "reading is committed. \"stored\" counts the rows in the store after a graceful stop (every acked reading must be there)."
    echo "The target is for one reading in flight per device; the second row lets each device have 4 unacked (the M2"
    echo "firmware keeps up to 16), so one commit carries four times as many."
    echo
    echo "The redis row is redis-server with \`appendonly yes\` and \`appendfsync always\` (its data in the same temporary"
    echo "directory, on the same disk), loaded by \`iotchat bench --redis-set\`: \`SET bench-<i> <n>:<ms>\`, each \`+OK\` sent"
    echo "after the fsync. Target (issue 20): iotchat readings ≥ 1.0× redis."
    echo
    echo "| run | replies/s | p50 | p99 | failures | stored / acked |"
    echo "|---|---:|---:|---:|---|---:|"
    for k in readings.i readings4.i chat100.i readings.b readings.r; do
        if [ -n "${R[$k.skipped]:-}" ]; then
            echo "| redis-server | ${R[$k.skipped]} | | | | |"
            continue
        fi
        case $k in
        readings.i) what="iotchat readings (durable)" ;;
        readings4.i) what="iotchat readings, 4 in flight per device (durable)" ;;
        chat100.i) what="iotchat chat, 100 conn" ;;
        readings.b) what="baseline, same lines (echo only, no store)" ;;
        readings.r) what="redis-server, appendfsync always, SET (ack after fsync)" ;;
        esac
        echo "| $what | $(int "${R[$k.replies_per_s]}") | $(us "${R[$k.p50_us]}") | $(us "${R[$k.p99_us]}") | $(cell "${R[$k.failures]}")" \
            "| $([[ $k == readings*.i ]] && echo "${R[$k.stored]} / ${R[$k.replies]}" || echo -) |"
    done
    echo
    echo "readings / chat at 100 connections: $(div "${R[readings.i.replies_per_s]}" "${R[chat100.i.replies_per_s]}") (target ≥ 0.5:" \
        "$(met 'r >= 0.5 * c' -v r="${R[readings.i.replies_per_s]}" -v c="${R[chat100.i.replies_per_s]}"));" \
        "every acked reading stored: $(met 's >= a && a > 0 && s4 >= a4 && a4 > 0' -v s="${R[readings.i.stored]}" -v a="${R[readings.i.replies]}" \
            -v s4="${R[readings4.i.stored]}" -v a4="${R[readings4.i.replies]}");" \
        "iotchat readings / baseline echo: $(div "${R[readings.i.replies_per_s]}" "${R[readings.b.replies_per_s]}");" \
        "iotchat readings / redis: $(div "${R[readings.i.replies_per_s]:-0}" "${R[readings.r.replies_per_s]:-0}") (target ≥ 1.0:" \
        "$([ -n "${R[readings.r.skipped]:-}" ] && echo "no redis" || met 'i >= r' -v i="${R[readings.i.replies_per_s]}" -v r="${R[readings.r.replies_per_s]}"))."
    echo
}

bridge_table() {
    local k=bridge total
    echo "## 4. Bridge: readings from devices to the broker's PUBACK"
    echo
    if [ -n "${R[bridge.skipped]:-}" ]; then
        echo "${R[bridge.skipped]}"
        echo
        return
    fi
    echo "Scenario 3's load (100 devices, closed loop) into \`iotchat serve --tb-host\` forwarding to a local mosquitto"
    echo "($(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}')) at QoS 1; each reading is one row. Forwarded = stored rows / (load time + time to drain"
    echo "the outbox). The bridge forwards in batches, so some backlog is always in flight; it keeps up when the backlog"
    echo "the devices leave behind is less than one second of ingest (it did not grow with the length of the run) and"
    echo "nothing is left after the drain. No baseline: it has no bridge."
    echo
    total=$(awk -v a="${R[$k.elapsed_s]}" -v b="${R[$k.drain_s]}" 'BEGIN {print a + b}')
    echo "| ingest readings/s (acked) | ack p99 | failures | backlog when the devices stopped | drained in | drain rows/s | left | forwarded readings/s | forwarded / ingest | keeps up |"
    echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"
    echo "| $(int "${R[$k.replies_per_s]}") | $(us "${R[$k.p99_us]}") | $(cell "${R[$k.failures]}") | ${R[$k.backlog]}" \
        "| $(awk -v d="${R[$k.drain_s]}" 'BEGIN {printf "%.2f s", d}') | $(awk -v b="${R[$k.backlog]}" -v d="${R[$k.drain_s]}" 'BEGIN {printf "%.0f", (d > 0 ? b / d : 0)}')" \
        "| ${R[$k.left]}" \
        "| $(awk -v r="${R[$k.stored]}" -v t="$total" 'BEGIN {printf "%.0f", (t > 0 ? r / t : 0)}')" \
        "| $(awk -v r="${R[$k.stored]}" -v t="$total" -v i="${R[$k.replies_per_s]}" 'BEGIN {printf "%.2f", (t > 0 && i > 0 ? r / t / i : 0)}')" \
        "| $(met 'b < i && l == 0' -v b="${R[$k.backlog]}" -v i="${R[$k.replies_per_s]}" -v l="${R[$k.left]}") |"
    echo
}

bottleneck_table() {
    local s one two sum
    echo "## 5. Is \`iotchat bench\` the bottleneck?"
    echo
    echo "Against the baseline (the fastest server here): one bench process, then two bench processes of half the"
    echo "connections each at the same time. If two get no more than 10% above one, a single bench process is not what"
    echo "limits the rate. On a busy shared machine this is pessimistic: more processes also win a bigger share of the"
    echo "CPU from other users. CPU per reply: on loopback both sides pay one send and one receive per request in the"
    echo "kernel (perf: about 80% of the bench's CPU), so the bench's cost per reply is close to the server's by nature."
    echo "When server and bench together got less than 80% of the machine's cores, other work took the rest and the"
    echo "check says \"inconclusive\": run it again on a quiet machine."
    echo
    echo "| load | 1 process replies/s | 2 processes replies/s (sum) | 2 / 1 | server CPU/reply | bench CPU/reply | server CPU (cores) | bench CPU (cores) | bench is not the bottleneck (2 / 1 < 1.1) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for s in "50 1" "50 16"; do
        read -r c p <<<"$s"
        one=one$c.$p two=two$c.$p
        sum=$(awk -v a="${R[$two.1.replies_per_s]}" -v b="${R[$two.2.replies_per_s]}" 'BEGIN {print a + b}')
        echo "| $c conn, pipeline $p | $(int "${R[$one.replies_per_s]}") | $(int "$sum") | $(div "$sum" "${R[$one.replies_per_s]}")" \
            "| $(per_reply "${R[$one.server_cpu]}" "${R[$one.replies]}") | $(per_reply "${R[$one.bench_cpu]}" "${R[$one.replies]}")" \
            "| $(cores "${R[$one.server_cpu]}" "${R[$one.elapsed_s]}") | $(cores "${R[$one.bench_cpu]}" "${R[$one.elapsed_s]}")" \
            "| $(bottleneck_verdict "$sum" "$one") |"
    done
    echo
}

bottleneck_verdict() { # TWO_PROCESS_SUM ONE_PROCESS_RUN
    local used
    used=$(awk -v a="${R[$2.server_cpu]}" -v b="${R[$2.bench_cpu]}" -v s="${R[$2.elapsed_s]}" 'BEGIN {printf "%.2f", (s > 0 ? (a + b) / s : 0)}')
    if awk -v u="$used" -v n="$(nproc)" 'BEGIN {exit !(u < 0.8 * n)}'; then
        echo "inconclusive: server + bench got $used of $(nproc) cores"
    else
        met 's < 1.1 * o' -v s="$1" -v o="${R[$2.replies_per_s]}"
    fi
}

tables() {
    header
    chat_table
    epoll_table
    c10k_table
    readings_table
    bridge_table
    bottleneck_table
}

# update_readme FILE: puts FILE, headings one level down, between the markers in README.md.
update_readme() {
    local begin='<!-- bench/run: latest results -->' end='<!-- end of bench/run results -->'
    grep -qF -- "$begin" README.md || return 0
    awk -v b="$begin" -v e="$end" -v f="$1" '
        $0 == b { print; while ((getline line < f) > 0) { if (line ~ /^# /) continue; if (line ~ /^##/) line = "##" line; print line }; skip = 1; next }
        $0 == e { skip = 0 }
        !skip' README.md >"$work/README.md"
    cat "$work/README.md" >README.md
}
