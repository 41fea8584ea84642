// SPDX-License-Identifier: GPL-2.0
/* vmasks: a few vmalloc calls whose GFP masks the kmem tracepoints show (kmviz check) */
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/slab.h>

static int __init vmasks_init(void)
{
	void *a;

	a = vmalloc(PAGE_SIZE);
	vfree(a);
	a = vzalloc(PAGE_SIZE);
	vfree(a);
	a = vmalloc_32(PAGE_SIZE);
	vfree(a);
	a = __vmalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
	vfree(a);
	a = __vmalloc(8 << 20, GFP_KERNEL_ACCOUNT);
	vfree(a);
	a = kvmalloc(8 << 20, GFP_KERNEL_ACCOUNT);
	kvfree(a);
	return -EAGAIN;
}
module_init(vmasks_init);
MODULE_LICENSE("GPL");
