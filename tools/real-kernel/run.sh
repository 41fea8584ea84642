#!/bin/sh
# The one command: boots Debian's Linux 6.1 (6.1.0-57-amd64, upstream 6.1.192) in QEMU for every
# machine, loads the probe module, and writes what the kernel printed into tests/real61/<machine>/,
# the kmem trace into kmviz/data/sample-kmem.trace.xz, and the debug kernel's splats into
# tests/real61/debug-1G-2cpu/ (when build-debug-kernel.sh has built it).
# Usage: tools/real-kernel/run.sh [machine...]   (default: all; WORK=/work/build by default)
# Needs (Debian 12): qemu-system-x86 busybox-static cpio gcc-12 make xz-utils trace-cmd, and for
# the debug kernel what build-debug-kernel.sh lists.
# Machines: 256M-2cpu 1G-2cpu 4G-2cpu 1G-1cpu 1G-4cpu trace debug slub-debug.  About a minute per
# boot.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/work/build}
VERSION=6.1.192-3
ABI=6.1.0-57-amd64
STOCK=$WORK/stock
DEBUG_TREE=$WORK/debug/linux-source-6.1
CMDLINE="console=ttyS0 panic=-1 nokaslr no_timer_check quiet"
# The trace boot records these from early boot on; the ring buffer keeps the newest events.
TRACE_EVENTS="kmem:kmalloc,kmem:kfree,kmem:kmem_cache_alloc,kmem:kmem_cache_free,kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_free_batched,kmem:mm_page_alloc_zone_locked,kmem:mm_page_pcpu_drain"
TRACE_BUF=${TRACE_BUF:-24M}

fetch_stock() { # the kernel image and the headers the probe builds against, unpacked in $STOCK
    mkdir -p "$STOCK" && cd "$STOCK"
    for p in "linux-image-$ABI-unsigned" "linux-headers-$ABI" linux-headers-6.1.0-57-common \
        linux-kbuild-6.1; do
        ls "${p}_${VERSION}"_*.deb > /dev/null 2>&1 || apt-get download "$p=$VERSION"
        [ -e "root/.$p" ] || { dpkg-deb -x "${p}_${VERSION}"_*.deb root && touch "root/.$p"; }
    done
    # the headers include the common ones by an absolute /usr/src path: point it here
    sed -i "s#^include .*/linux-headers-6.1.0-57-common/Makefile#include $STOCK/root/usr/src/linux-headers-6.1.0-57-common/Makefile#" \
        "root/usr/src/linux-headers-$ABI/Makefile"
}

build_probe() { # build_probe KERNEL_TREE OUT_DIR: kmviz_probe.ko built against that tree
    rm -rf "$2" && mkdir -p "$2" && cp "$HERE/probe/kmviz_probe.c" "$HERE/probe/Makefile" "$2"
    nice -n 10 make -s -C "$1" M="$2" CC=gcc-12 modules
}

initramfs() { # initramfs PROBE_KO OUT: busybox, trace-cmd, /init and the probe as a gzipped cpio
    rm -rf "$WORK/initramfs" && mkdir -p "$WORK/initramfs/bin"
    cp /bin/busybox "$WORK/initramfs/bin/busybox"
    cp /usr/bin/trace-cmd "$WORK/initramfs/bin/trace-cmd"  # and its libraries
    ldd /usr/bin/trace-cmd | grep -o '/[^ ]*' | while read -r lib; do
        mkdir -p "$WORK/initramfs$(dirname "$lib")" && cp -L "$lib" "$WORK/initramfs$lib"
    done
    cp "$HERE/init.sh" "$WORK/initramfs/init" && chmod +x "$WORK/initramfs/init"
    cp "$1" "$WORK/initramfs/kmviz_probe.ko"
    (cd "$WORK/initramfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$2")
}

boot() { # boot KERNEL INITRD MEM CPUS MODE OUT_RAW [EXTRA_CMDLINE]: one QEMU run, retried once
    for attempt in 1 2; do
        rm -f "$6"
        start=$(date +%s)
        nice -n 10 timeout 900 qemu-system-x86_64 -accel tcg -cpu max,la57=off \
            -m "$3" -smp "$4" -kernel "$1" -initrd "$2" \
            -append "$CMDLINE kmviz_mode=$5 ${7:-}" \
            -display none -monitor none -no-reboot \
            -serial "file:$6.console" -serial "file:$6" || true
        echo "  $5 $3 $4 CPUs: $(($(date +%s) - start)) s (attempt $attempt)"
        grep -q "===== DONE" "$6" 2>/dev/null && return 0
    done
    echo "boot failed: see $6.console" >&2
    return 1
}

machine() { # machine NAME MEM CPUS: a stock capture into tests/real61/NAME
    boot "$STOCK/root/boot/vmlinuz-$ABI" "$WORK/initramfs-stock.cpio.gz" "$2" "$3" capture \
        "$WORK/$1.raw"
    python3 "$HERE/split_capture.py" "$WORK/$1.raw" "$REPO/tests/real61/$1"
}

MACHINES=${*:-256M-2cpu 1G-2cpu 4G-2cpu 1G-1cpu 1G-4cpu trace debug slub-debug}
fetch_stock
build_probe "$STOCK/root/usr/src/linux-headers-$ABI" "$WORK/probe-stock"
initramfs "$WORK/probe-stock/kmviz_probe.ko" "$WORK/initramfs-stock.cpio.gz"
for m in $MACHINES; do
    case $m in
    256M-2cpu) machine "$m" 256M 2 ;;
    1G-2cpu) machine "$m" 1G 2 ;;
    4G-2cpu) machine "$m" 4G 2 ;;
    1G-1cpu) machine "$m" 1G 1 ;;
    1G-4cpu) machine "$m" 1G 4 ;;
    trace)
        boot "$STOCK/root/boot/vmlinuz-$ABI" "$WORK/initramfs-stock.cpio.gz" 256M 2 trace \
            "$WORK/trace.raw" "trace_event=$TRACE_EVENTS trace_buf_size=$TRACE_BUF"
        python3 "$HERE/split_capture.py" "$WORK/trace.raw" "$WORK/trace"
        gzip -dc "$WORK/trace/kmem.trace.gz" | xz -9e > "$REPO/kmviz/data/sample-kmem.trace.xz"
        # the same ring buffer as trace-cmd report prints it; a slice for the loader's tests:
        # the first 300 lines and 200 lines of the probe's insmod
        gzip -dc "$WORK/trace/trace.dat.gz" > "$WORK/trace/trace.dat"
        trace-cmd report -i "$WORK/trace/trace.dat" > "$WORK/trace/trace-cmd-report.txt"
        awk 'NR <= 300 || (/ insmod-/ && n++ < 200)' "$WORK/trace/trace-cmd-report.txt" \
            > "$REPO/tests/real/data/kmem-6.1-trace-cmd-report.txt"
        ;;
    debug)
        [ -f "$DEBUG_TREE/arch/x86/boot/bzImage" ] || "$HERE/build-debug-kernel.sh" "$WORK"
        build_probe "$DEBUG_TREE" "$WORK/probe-debug"
        initramfs "$WORK/probe-debug/kmviz_probe.ko" "$WORK/initramfs-debug.cpio.gz"
        boot "$DEBUG_TREE/arch/x86/boot/bzImage" "$WORK/initramfs-debug.cpio.gz" 1G 2 debug \
            "$WORK/debug.raw"
        python3 "$HERE/split_capture.py" "$WORK/debug.raw" "$REPO/tests/real61/debug-1G-2cpu"
        ;;
    slub-debug) # the stock kernel with SLUB's debugging on every cache (plain slub_debug: FZPU)
        boot "$STOCK/root/boot/vmlinuz-$ABI" "$WORK/initramfs-stock.cpio.gz" 1G 2 slub \
            "$WORK/$m.raw" slub_debug
        python3 "$HERE/split_capture.py" "$WORK/$m.raw" "$REPO/tests/real61/$m-1G-2cpu"
        ;;
    *) echo "unknown machine $m" >&2; exit 2 ;;
    esac
done
