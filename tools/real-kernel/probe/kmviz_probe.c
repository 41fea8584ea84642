// SPDX-License-Identifier: MIT
/*
 * kmviz_probe: performs, in a real Linux 6.1 kernel, the calls kmviz's lessons make, and prints
 * what the kernel answered as "kmviz_probe: <key> <values...>" lines for tools/real-kernel.
 *
 * insmod kmviz_probe.ko step=<step>, then rmmod kmviz_probe: one step per load.  Every step but
 * "caches" undoes what it did before init returns; the module stays loaded (busybox's insmod would
 * load it a second time if init failed) and rmmod lets the next step load it again:
 *   measure       get_order, kmalloc/ksize of every class, order-0 reuse, vmalloc pfns,
 *                 GFP_DMA, order-10 blocks until failure
 *   caches        kmem_cache_create() of many sizes, plain, with a constructor (never merged)
 *                 and with SLAB_HWCACHE_ALIGN; their geometry (and, for merged ones, the
 *                 symlink) is read in /sys/kernel/slab before rmmod destroys them
 *   order11       alloc_pages(GFP_KERNEL, 11): the WARN of __alloc_pages()
 *   atomic_sleep  kmalloc(GFP_KERNEL) under a spinlock (quiet unless CONFIG_DEBUG_ATOMIC_SLEEP)
 *   double_free   free_pages() twice on one page (quiet unless CONFIG_DEBUG_VM); load it last
 * and, for a kernel booted with slub_debug (SLUB's reports; quiet or corrupting without it):
 *   slub_double_free   kmalloc(100), kfree() twice: "Object already free"
 *   slub_reused_free   kmalloc(100), kfree(), kmalloc(100) gets it back, kfree() of the old
 *                      pointer (frees the new owner's object: nothing to see), kfree() again
 *   slub_redzone       kmalloc(128), one byte written just past it, kfree(): "Right Redzone"
 *   slub_poison        kmalloc(128), kfree(), one byte written into it, kmalloc(128): "Poison"
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static char *step = "measure";
module_param(step, charp, 0444);
MODULE_PARM_DESC(step, "measure | caches | order11 | atomic_sleep | double_free | slub_*");

#define OUT(fmt, ...) pr_info("kmviz_probe: " fmt "\n", ##__VA_ARGS__)

static const size_t order_sizes[] = {
	1, 4095, 4096, 4097, 8192, 8193, 16384, 65536, 1 << 20, 4 << 20, (4 << 20) + 1,
};

static const size_t kmalloc_sizes[] = {
	1, 8, 9, 16, 17, 24, 32, 33, 48, 64, 65, 80, 96, 97, 128, 129, 192, 193, 200, 256, 257,
	500, 512, 513, 1000, 1024, 1025, 2048, 2049, 3000, 4096, 4097, 8192, 8193, 12288, 16384,
	65536,
};

static const unsigned int cache_sizes[] = {
	8, 16, 24, 32, 40, 64, 96, 100, 128, 192, 200, 256, 500, 512, 1000, 1024, 2048, 3000,
	4096, 5000, 8192,
};

static void ctor(void *object)
{
}

static void measure_get_order(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(order_sizes); i++)
		OUT("get_order %zu %d", order_sizes[i], get_order(order_sizes[i]));
}

static void measure_kmalloc(const char *what, gfp_t gfp)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(kmalloc_sizes); i++) {
		size_t size = kmalloc_sizes[i];
		void *p = kmalloc(size, gfp);

		if (!p) {
			OUT("%s %zu failed", what, size);
			continue;
		}
		OUT("%s %zu ksize=%zu roundup=%zu zone=%s", what, size, ksize(p),
		    kmalloc_size_roundup(size), page_zone(virt_to_page(p))->name);
		kfree(p);
	}
}

static void measure_order0_reuse(void)
{
	struct page *pages[8];
	struct page *again;
	int i;

	for (i = 0; i < ARRAY_SIZE(pages); i++)
		pages[i] = alloc_pages(GFP_KERNEL, 0);
	for (i = 0; i < ARRAY_SIZE(pages); i++)
		OUT("order0_alloc %d pfn=%lu", i, pages[i] ? page_to_pfn(pages[i]) : 0UL);
	if (pages[7]) {
		unsigned long pfn = page_to_pfn(pages[7]);

		__free_pages(pages[7], 0);
		again = alloc_pages(GFP_KERNEL, 0);
		OUT("order0_realloc freed=%lu got=%lu", pfn, again ? page_to_pfn(again) : 0UL);
		pages[7] = again;
	}
	for (i = 0; i < ARRAY_SIZE(pages); i++)
		if (pages[i])
			__free_pages(pages[i], 0);
}

static void measure_vmalloc(unsigned long size)
{
	char *area = vmalloc(size);
	unsigned long offset;

	if (!area) {
		OUT("vmalloc %lu failed", size);
		return;
	}
	for (offset = 0; offset < size; offset += PAGE_SIZE)
		OUT("vmalloc %lu page=%lu pfn=%lu", size, offset / PAGE_SIZE,
		    vmalloc_to_pfn(area + offset));
	vfree(area);
}

static struct kmem_cache *caches[3 * ARRAY_SIZE(cache_sizes)];

static void create_caches(void)
{
	static const char *const kinds[] = { "plain", "ctor", "hwalign" };
	char name[32];
	int i, kind;

	for (i = 0; i < ARRAY_SIZE(cache_sizes); i++) {
		for (kind = 0; kind < 3; kind++) {
			struct kmem_cache **s = &caches[3 * i + kind];

			snprintf(name, sizeof(name), "kmviz_%s_%u", kinds[kind], cache_sizes[i]);
			*s = kmem_cache_create(name, cache_sizes[i], 0,
					       kind == 2 ? SLAB_HWCACHE_ALIGN : 0,
					       kind ? ctor : NULL);
			OUT("cache %s %s", name, *s ? "created" : "failed");
		}
	}
}

static void measure_dma(void)
{
	struct page *page = alloc_pages(GFP_DMA, 0);

	if (page) {
		OUT("gfp_dma_page pfn=%lu zone=%s", page_to_pfn(page), page_zone(page)->name);
		__free_pages(page, 0);
	} else {
		OUT("gfp_dma_page failed");
	}
}

static void measure_order10_until_failure(void)
{
	LIST_HEAD(blocks);
	struct page *page, *next;
	unsigned long count = 0;

	while ((page = alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 10))) {
		OUT("order10 %lu pfn=%lu zone=%s", count, page_to_pfn(page), page_zone(page)->name);
		list_add_tail(&page->lru, &blocks);
		count++;
	}
	OUT("order10_count %lu", count);
	list_for_each_entry_safe(page, next, &blocks, lru) {
		list_del(&page->lru);
		__free_pages(page, 10);
	}
}

/*
 * kmalloc(size) until it hands out p again (a debugged cache takes objects from its node's
 * partial slabs, so the next kmalloc() need not be p); the others, chained through their first
 * word, are freed.  Returns p, or NULL after 20000 tries (a slab slub_debug found corrupt hands out nothing).
 */
static void *kmalloc_until(size_t size, void *p)
{
	void **chain = NULL, **next, *q = NULL;
	int i;

	for (i = 0; i < 20000; i++) {
		q = kmalloc(size, GFP_KERNEL);
		if (!q || q == p)
			break;
		*(void **)q = chain;
		chain = q;
	}
	OUT("kmalloc_until %d tries: %s", i + 1, q == p ? "got it back" : "not given back");
	for (; chain; chain = next) {
		next = *chain;
		kfree(chain);
	}
	return q == p ? q : NULL;
}

/* A mistake slub_debug reports; bytes go through a volatile pointer the compiler keeps. */
static void slub_mistake(const char *what)
{
	size_t size = !strcmp(what, "double_free") || !strcmp(what, "reused_free") ? 100 : 128;
	u8 *p = kmalloc(size, GFP_KERNEL);
	volatile u8 *bytes = p;
	void *q;

	OUT("slub_%s ptr=%px", what, p);
	if (!p)
		return;
	if (!strcmp(what, "double_free")) {
		kfree(p);
		kfree(p);
	} else if (!strcmp(what, "reused_free")) {
		kfree(p);
		q = kmalloc_until(size, p);
		kfree(p);
		OUT("slub_reused_free kfree of the old pointer done");
		kfree(q);
	} else if (!strcmp(what, "redzone")) {
		bytes[128] = 0x12;
		kfree(p);
	} else if (!strcmp(what, "poison")) {
		kfree(p);
		bytes[0] = 0x12;
		kfree(kmalloc_until(size, p));
	}
}

static int __init kmviz_probe_init(void)
{
	static DEFINE_SPINLOCK(lock);

	OUT("begin %s", step);
	if (!strcmp(step, "measure")) {
		measure_get_order();
		measure_kmalloc("kmalloc", GFP_KERNEL);
		measure_kmalloc("kmalloc_dma", GFP_KERNEL | GFP_DMA);
		measure_order0_reuse();
		measure_vmalloc(64 << 10);
		measure_dma();
		measure_order10_until_failure();
	} else if (!strcmp(step, "caches")) {
		create_caches();
	} else if (!strcmp(step, "order11")) {
		struct page *page = alloc_pages(GFP_KERNEL, 11);

		OUT("order11 %s", page ? "succeeded" : "failed");
		if (page)
			__free_pages(page, 11);
	} else if (!strcmp(step, "atomic_sleep")) {
		void *p;

		spin_lock(&lock);
		p = kmalloc(64, GFP_KERNEL);
		spin_unlock(&lock);
		OUT("atomic_sleep %s", p ? "allocated" : "failed");
		kfree(p);
	} else if (!strcmp(step, "double_free")) {
		unsigned long addr = __get_free_pages(GFP_KERNEL, 0);

		OUT("double_free pfn=%lu", addr ? page_to_pfn(virt_to_page((void *)addr)) : 0UL);
		if (addr) {
			free_pages(addr, 0);
			free_pages(addr, 0);
		}
	} else if (!strncmp(step, "slub_", 5)) {
		slub_mistake(step + 5);
	} else {
		OUT("unknown step");
	}
	OUT("end %s", step);
	return 0;
}

static void __exit kmviz_probe_exit(void)
{
	int i;

	for (i = ARRAY_SIZE(caches) - 1; i >= 0; i--)
		kmem_cache_destroy(caches[i]);
}

module_init(kmviz_probe_init);
module_exit(kmviz_probe_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmviz: the calls kmviz's lessons make, in a real kernel");
