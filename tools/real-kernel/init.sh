#!/bin/busybox sh
# /init of the harness's initramfs: dumps the kernel's own files to /dev/ttyS1 as
# "===== BEGIN <name> <bytes>", exactly <bytes> bytes, "===== END <name>"; then powers off.
# /proc/cmdline's kmviz_mode= says what to do: capture (files, then the probe's steps),
# trace (kmem events from boot, a small workload, the probe; the trace, gzipped) or
# debug (the probe's mistakes only, on the debug kernel) or slub (the stock kernel booted with
# slub_debug: the kmalloc caches' debug geometry and the probe's slab mistakes).
/bin/busybox mkdir -p /bin /sbin /proc /sys /tmp /dev
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t tmpfs tmpfs /tmp
stty -F /dev/ttyS1 raw -echo
MODE=$(sed -n 's/.*kmviz_mode=\([a-z]*\).*/\1/p' /proc/cmdline)

emit() { # emit NAME FILE: one file, framed, on the capture port
    size=$(wc -c < "$2")
    { echo "===== BEGIN $1 $size"; cat "$2"; echo "===== END $1"; } > /dev/ttyS1
}
run() { # run NAME COMMAND...: the command's output as file NAME
    name=$1; shift
    "$@" > /tmp/out 2>&1
    emit "$name" /tmp/out
}
probe() { # probe STEP [SLAB_GLOB]: one step of the probe; its kernel log as probe-STEP.txt
    dmesg -c > /dev/null
    insmod /kmviz_probe.ko step="$1" > /tmp/insmod 2>&1
    echo "# insmod exit status $?" >> /tmp/insmod
    sleep 1
    { dmesg -c; cat /tmp/insmod; } > /tmp/probe
    emit "probe-$1.txt" /tmp/probe
    [ -z "${2:-}" ] || run "slab-probe-$1.txt" slab_attrs "$2"
    rmmod kmviz_probe 2>/dev/null
}
vm_sysctls() { # the /proc/sys/vm settings that shape the allocators, "name value" per line
    for f in min_free_kbytes watermark_scale_factor watermark_boost_factor \
        lowmem_reserve_ratio percpu_pagelist_high_fraction extfrag_threshold \
        compact_unevictable_allowed overcommit_memory overcommit_ratio zone_reclaim_mode \
        page-cluster swappiness numa_stat stat_interval; do
        [ -r /proc/sys/vm/$f ] && echo "$f $(cat /proc/sys/vm/$f)"
    done
}
slab_attrs() { # slab_attrs GLOB: the geometry of /sys/kernel/slab/GLOB caches, one per line
    for d in /sys/kernel/slab/$1; do
        [ -e "$d" ] || continue
        line="${d##*/}"
        [ -L "$d" ] && line="$line alias_of=$(readlink "$d" | sed 's#.*/##')"
        for a in object_size slab_size objs_per_slab order align min_partial cpu_partial \
            aliases objects_partial hwcache_align destroy_by_rcu ctor; do
            line="$line $a=$(cat "$d/$a" 2>/dev/null | cut -d' ' -f1)"
        done
        echo "$line"
    done
}
workload() { # a little of what a shell does: processes, files in tmpfs, a pipe, /proc reads
    for i in 1 2 3 4 5 6 7 8; do
        dd if=/dev/zero of=/tmp/file$i bs=4k count=64 2>/dev/null
        ls -lR /sys/kernel/slab > /dev/null 2>&1
        cat /proc/buddyinfo /proc/meminfo | wc -l > /dev/null
    done
    rm -f /tmp/file*
}

echo "kmviz harness: mode $MODE"
case "$MODE" in
capture)
    run version cat /proc/version
    run cmdline cat /proc/cmdline
    run dmesg.txt dmesg
    for f in buddyinfo pagetypeinfo zoneinfo slabinfo vmallocinfo meminfo iomem; do
        run "$f" cat /proc/$f
    done
    run vm-sysctls.txt vm_sysctls
    run extfrag-unusable_index cat /sys/kernel/debug/extfrag/unusable_index
    run extfrag-extfrag_index cat /sys/kernel/debug/extfrag/extfrag_index
    run slab-kmalloc.txt slab_attrs "*kmalloc-*"
    run slab-all.txt slab_attrs "*"
    probe measure
    probe caches "kmviz_*"
    probe order11
    probe atomic_sleep
    probe double_free
    ;;
trace)
    workload
    probe measure
    probe caches
    echo 0 > /sys/kernel/tracing/tracing_on
    gzip -1 < /sys/kernel/tracing/trace > /tmp/trace.gz
    emit kmem.trace.gz /tmp/trace.gz
    # the same ring buffer in trace-cmd's file format (extract consumes it: after the cat)
    if [ -x /bin/trace-cmd ]; then
        trace-cmd extract -o /tmp/trace.dat > /tmp/extract.log 2>&1
        gzip -1 < /tmp/trace.dat > /tmp/trace.dat.gz
        emit trace.dat.gz /tmp/trace.dat.gz
    fi
    ;;
debug)
    run version cat /proc/version
    run dmesg.txt dmesg
    probe order11
    probe atomic_sleep
    probe double_free
    ;;
slub)
    run version cat /proc/version
    run cmdline cat /proc/cmdline
    run dmesg.txt dmesg
    run slab-kmalloc.txt slab_attrs "*kmalloc-*"
    probe slub_double_free
    probe slub_reused_free
    probe slub_redzone
    probe slub_poison
    ;;
esac
echo "===== DONE" > /dev/ttyS1
poweroff -f
