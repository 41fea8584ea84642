#!/bin/sh
# Builds Debian's 6.1 kernel (linux-source-6.1 6.1.192-3) with Debian's own config plus
# DEBUG_ATOMIC_SLEEP, DEBUG_PREEMPT and DEBUG_VM: the kernel whose splats a stock build does not print.
# Usage: tools/real-kernel/build-debug-kernel.sh [WORK]   (WORK defaults to /work/build; 55 min on
# 2 busy cores)
# Result: $WORK/debug/linux-source-6.1/arch/x86/boot/bzImage and a tree modules build against.
set -eu
WORK=${1:-/work/build}
VERSION=6.1.192-3
ABI=6.1.0-57-amd64
mkdir -p "$WORK/debug"
cd "$WORK"
[ -f "linux-source-6.1_${VERSION}_all.deb" ] || apt-get download "linux-source-6.1=$VERSION"
[ -f "linux-image-${ABI}-unsigned_${VERSION}_amd64.deb" ] ||
    apt-get download "linux-image-${ABI}-unsigned=$VERSION"
cd debug
if [ ! -d linux-source-6.1 ]; then
    dpkg-deb -x "../linux-source-6.1_${VERSION}_all.deb" pkg
    tar -xaf pkg/usr/src/linux-source-6.1.tar.xz
    dpkg-deb -x "../linux-image-${ABI}-unsigned_${VERSION}_amd64.deb" image
fi
cd linux-source-6.1
cp "../image/boot/config-${ABI}" .config
: > ../empty.lsmod
make LSMOD=../empty.lsmod localmodconfig < /dev/null > ../localmodconfig.log 2>&1
scripts/config -e DEBUG_ATOMIC_SLEEP -e DEBUG_PREEMPT -e DEBUG_VM \
    -d DEBUG_INFO -d DEBUG_INFO_DWARF5 -d DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT -e DEBUG_INFO_NONE \
    -d DEBUG_INFO_BTF -d MODULE_SIG_ALL -d MODULE_SIG \
    --set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
    --set-str LOCALVERSION "-kmviz-debug" -d LOCALVERSION_AUTO
make olddefconfig > ../olddefconfig.log 2>&1
grep -E '^CONFIG_(DEBUG_ATOMIC_SLEEP|DEBUG_PREEMPT|DEBUG_VM)=y' .config
# modules: with no module configured it only writes Module.symvers, which the probe builds against
nice -n 15 make -j2 bzImage modules_prepare modules > ../build.log 2>&1
echo "built: $PWD/arch/x86/boot/bzImage"
