#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing
stty -F /dev/ttyS1 raw -echo
T=/sys/kernel/tracing
echo 1 > $T/events/kmem/mm_page_alloc/enable
echo 1 > $T/events/kmem/kmalloc/enable
echo > $T/trace
insmod /vmasks.ko
echo 0 > $T/tracing_on
{ echo "===== BEGIN trace"; cat $T/trace; echo "===== END trace"; dmesg | tail -40; echo "===== DONE"; } > /dev/ttyS1
poweroff -f
