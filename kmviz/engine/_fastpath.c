/*
 * kmviz/engine/_fastpath.c -- the buddy allocator's hot calls in C: pages by address or Page.
 *
 * __get_free_pages() and free_pages(), alloc_pages() and __free_pages() for the common case
 * only: a GFP mask seen before whose first zone has a block above the low watermark
 * (Kernel._alloc_fast()), and a free of a plain block by its head.
 * Orders 0..3 and 9 go through the current CPU's per-CPU lists as in 6.1: a pop off the list
 * head (rmqueue_bulk() refills an empty list), a push on the head, free_pcppages_bulk() above
 * high; other orders come off the buddy lists.  Either way, when the migratetype's own lists run
 * dry, __rmqueue() asks Python's rmqueue_fallback() to steal a block from another and retries;
 * on a machine with a CMA area a movable request (ALLOC_CMA) takes MIGRATE_CMA blocks as
 * __rmqueue() balances them, and NR_FREE_CMA_PAGES follows the CMA lists.
 * Everything else -- first use of a mask, other zones, the slow path, every bad argument, atomic
 * context (might_sleep() is due) and any call whose observers must hear of it at once
 * (kernel.notify_each_call) -- goes to the Python methods given at construction, which are the
 * reference implementation
 * (kmviz/engine/buddy.py rmqueue_smallest() and free_one_page(), kmviz/engine/kernel.py).
 * The two must agree bit for bit; tests/engine/test_fastpath.py runs both and compares.
 *
 * The C code owns no state: it works on the Python side's arrays through the buffer
 * protocol (state, list links, counters) and appends to the same history.  The free-list links
 * are kept per pair of frames (nxt[pfn >> 1]); the pcp lists are array('i') stacks, read and
 * written through ArrayLayout with no buffer held, so that Python may resize them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>   /* T_OBJECT_EX: the slab objects' and Page's fields */

#define MAX_ORDER 11
#define LIST_STRIDE 6          /* MIGRATE_TYPES: list heads per order in a zone */
#define PAGE_ALLOC_COSTLY_ORDER 3
#define PAGEBLOCK_ORDER 9
#define MIGRATE_MOVABLE 1
#define MIGRATE_PCPTYPES 3
#define MIGRATE_CMA 4
#define MIGRATE_ISOLATE 5
#define NR_LOWORDER_PCP_LISTS 12
#define NR_PCP_LISTS 14
#define PCP (-128)             /* + (order << 3) + migratetype: a block on a pcp list */
#define PCP_BATCH_SCALE_MAX 5
#define KIND_ALLOC 1
#define PCP_BIT (1LL << 53)
#define PCP_BULK_BIT (1LL << 54)
#define CPU_SHIFT 55
#define BULK_TAKEN_BIT LLONG_MIN   /* bit 63: __alloc_pages_bulk() took it, no mm_page_alloc */
#define ALLOCATED 16           /* state of an allocated block's head: ALLOCATED + order */
#define COMPOUND 32            /* ... of an allocated __GFP_COMP block's head: COMPOUND + order */
#define TAIL (-1)
/* buddy.py's held codes of the order-0 pages free_pages_bulk() frees: held_code(ALLOCATED, ...) */
#define ANON_PAGE 78           /* OWNER_ANON: a user page on the LRU */
#define FILE_PAGE 79           /* OWNER_FILE: a page-cache page on the LRU */
#define VMALLOC_PAGE 80        /* OWNER_VMALLOC: a page a vmalloc area maps */
#define PFN_SHIFT 25           /* history record layout, see history.py */
#define TAIL_BIT (1 << 13)
#define KIND_FREE 2
#define PAGE_SHIFT 12
#define PAGEBLOCK_SHIFT 9
#define CHUNK_SHIFT 12         /* zone lookup granularity: 16 MiB */
#define MAX_ZONES 4
#define PAGE_OFFSET 0xffff888000000000ULL

#define PLAN_CACHE 8            /* GFP masks whose plans are kept unpacked */

/* One plan tuple of ``plans`` unpacked.  The entry holds a reference to the tuple, so a tuple
 * at the same address is the same plan: a plan the Python side dropped and made again is a
 * new tuple and is unpacked again. */
typedef struct {
    PyObject *tuple;
    int zone, mt, head, nofrag, cma;   /* cma: ALLOC_CMA, a movable request may take CMA blocks */
    long long mark, record;
} PlanCache;

/* The plan a plans dict gave for a mask object last: good while the dict has not been emptied
 * since (Kernel._drop_fast_plans() counts that; no other write replaces a plan). */
typedef struct {
    PyObject *gfp, *plan;
    int64_t dropped;
} LastPlan;

typedef struct {
    PyObject_HEAD
    Py_buffer state_view, nxt_view, prv_view, pageblock_view, chunk_view, atomic_view;
    Py_buffer notify_view, dropped_view;
    Py_buffer nr_free_view[MAX_ZONES], free_count_view[MAX_ZONES];
    Py_buffer pcp_count_view[MAX_ZONES], pcp_factor_view[MAX_ZONES], pcp_limits_view[MAX_ZONES];
    Py_buffer cpu_view;
    int nzones;
    int64_t list_base[MAX_ZONES];
    /* per zone, cpus * NR_PCP_LISTS array('i') stacks, pcp->lists[pindex] of CPU cpu at
     * cpu * NR_PCP_LISTS + pindex: the items of the tuples of pcp_tuple (borrowed) */
    PyObject **pcp_lists[MAX_ZONES];
    PyObject *pcp_tuple;       /* the pcp_lists keyword: a tuple per zone of the lists */
    PyObject *pcp_room;        /* array('i', [0]): pcp_reserve() grows a list by copies of it */
    int64_t *pcp_count[MAX_ZONES];     /* per CPU: pages on its pcp lists */
    int64_t *pcp_factor[MAX_ZONES];    /* per CPU: pcp->free_factor */
    int64_t *pcp_limits[MAX_ZONES];    /* [high, batch, ZONE_RECLAIM_ACTIVE] */
    int64_t *cpu;              /* smp_processor_id() */
    PyObject *zones;           /* the Zone objects, for rmqueue_fallback() */
    Py_ssize_t isolate_offset[MAX_ZONES];      /* where each keeps nr_isolate_pageblock */
    PyObject *rmqueue_fallback;/* BuddyAllocator.rmqueue_fallback(zone, order, mt, nofrag) */
    PyObject *slow_after_fast; /* Kernel._get_free_pages_slow(gfp, order) */
    int8_t *state;             /* a held block's head has a code of its own (buddy.py HELD) */
    int32_t *nxt, *prv;        /* list links: int32 holds pfns of machines up to 8 TiB */
    int8_t *pageblock_mt;
    int8_t *zone_by_chunk;
    int8_t *atomic;            /* nonzero while sleeping is not allowed: might_sleep() is due */
    int8_t *notify;            /* nonzero while observers hear of every call (notify_each_call) */
    int64_t *nr_free[MAX_ZONES];
    int64_t *free_count[MAX_ZONES];    /* [NR_FREE_PAGES, NR_FREE_CMA_PAGES] */
    uint64_t direct_map_end;
    PyObject *records;         /* history.records, an array('q') */
    int append_in_place;       /* records is laid out as ArrayLayout says */
    PyObject *scratch;         /* array('q', [0]): a record waiting to be added to records */
    Py_buffer scratch_view;
    PyObject *plans;           /* {gfp: Kernel._plan_for_c() of its plan} */
    PlanCache plan_cache[PLAN_CACHE];
    int plan_next;             /* the cache slot the next new plan takes */
    int64_t *plans_dropped;    /* Kernel.fast_plans_dropped */
    LastPlan last_plan, last_alloc_plan;       /* of plans and of alloc_plans */
    PyObject *slow_get_free_pages;
    PyObject *slow_free_pages;
    PyObject *alloc_plans;     /* plans by the mask alloc_pages() was given */
    PyObject *slow_alloc_pages;        /* Kernel.alloc_pages */
    PyObject *alloc_after_fast;        /* Kernel._alloc_pages_slow(gfp, order) */
    PyObject *slow_free_pages_block;   /* Kernel.free_pages_block (__free_pages) */
    PyTypeObject *page_type;   /* Page: a struct page pointer, (pfn, zone name) in __slots__ */
    Py_ssize_t pfn_offset, zone_offset;        /* where a Page keeps them */
    PyObject *zone_names;      /* per zone position, the name a Page of it carries */
    PyObject *underflow;       /* Kernel.refcount_underflow: pages a silent double free left at
                                * refcount -1, which a drain must report (Python does it) */
} FastPath;

static int
get_view(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes", what, itemsize);
        return -1;
    }
    return 0;
}

/* An array.array as CPython lays it out (Modules/arraymodule.c, struct arrayobject, the same
 * from 3.3 to 3.13).  FastPath_new() checks it against the records array it is given -- the
 * buffer it exports is ob_item, of Py_SIZE items, and holding it counts as one export -- and
 * appends through records += scratch if the check fails. */
typedef struct {
    PyObject_VAR_HEAD
    char *ob_item;
    Py_ssize_t allocated;
    const void *ob_descr;
    PyObject *weakreflist;
    Py_ssize_t ob_exports;
} ArrayLayout;

/* Whether ``records`` (an array of 8-byte items whose buffer ``view`` is held) is laid out as
 * ArrayLayout says. */
static int
array_layout_is_known(PyObject *records, Py_buffer *view)
{
    ArrayLayout *array = (ArrayLayout *)records;
    return strcmp(Py_TYPE(records)->tp_name, "array.array") == 0
           && view->buf == (void *)array->ob_item && view->len == Py_SIZE(records) * 8
           && array->allocated >= Py_SIZE(records) && array->ob_exports == 1;
}

/* records.append(value), without making an int of it: in place while the array has room
 * (as array_resize() does when allocated suffices), else records += array('q', [value]).
 * A full array grows by a quarter (at least 4096 items) in one records += room, the room then
 * handed back (Py_SIZE as before): array_resize() alone grows by a sixteenth, and on a heap
 * where realloc() moves the array, copying it each time cost more than the appends. */
static int
append_record(FastPath *self, long long value)
{
    ArrayLayout *records = (ArrayLayout *)self->records;
    Py_ssize_t size = Py_SIZE(records);
    if (self->append_in_place && records->ob_exports == 0) {
        if (size == records->allocated) {
            PyObject *room = PySequence_Repeat(self->scratch, size / 4 < 4096 ? 4096 : size / 4);
            PyObject *grown = room == NULL ? NULL : PySequence_InPlaceConcat(self->records, room);
            Py_XDECREF(room);
            if (grown == NULL)
                return -1;
            Py_DECREF(grown);
            Py_SET_SIZE(records, size);
        }
        ((long long *)records->ob_item)[size] = value;
        Py_SET_SIZE(records, size + 1);
        return 0;
    }
    *(long long *)self->scratch_view.buf = value;
    PyObject *result = PySequence_InPlaceConcat(self->records, self->scratch);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* Whether ``obj`` is an array('i') laid out as ArrayLayout says: the buffer it exports is
 * ob_item (or, empty, no storage at all), of Py_SIZE 4-byte items, and counts as one more
 * export.  pcp lists are read and written through ArrayLayout with no buffer held. */
static int
int_array_layout_is_known(PyObject *obj)
{
    if (strcmp(Py_TYPE(obj)->tp_name, "array.array") != 0)
        return 0;
    ArrayLayout *array = (ArrayLayout *)obj;
    Py_ssize_t exports = array->ob_exports;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    int known = view.itemsize == 4 && view.format != NULL && strcmp(view.format, "i") == 0
                && (view.buf == (void *)array->ob_item || array->ob_item == NULL)
                && view.len == Py_SIZE(obj) * 4 && array->allocated >= Py_SIZE(obj)
                && array->ob_exports == exports + 1;
    PyBuffer_Release(&view);
    return known;
}

/* The unpacked plan of a tuple of ``plans``; NULL with an exception if it is malformed. */
static PlanCache *
unpacked_plan(FastPath *self, PyObject *plan)
{
    for (int i = 0; i < PLAN_CACHE; i++)
        if (self->plan_cache[i].tuple == plan)
            return &self->plan_cache[i];
    if (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 7) {
        PyErr_SetString(PyExc_TypeError, "a plan is a tuple of 7 items");
        return NULL;
    }
    PlanCache unpacked = {
        .zone = (int)PyLong_AsLong(PyTuple_GET_ITEM(plan, 0)),
        .mark = PyLong_AsLongLong(PyTuple_GET_ITEM(plan, 1)),
        .mt = (int)PyLong_AsLong(PyTuple_GET_ITEM(plan, 2)),
        .record = PyLong_AsLongLong(PyTuple_GET_ITEM(plan, 3)),
        .head = (int)PyLong_AsLong(PyTuple_GET_ITEM(plan, 4)),
        .nofrag = PyObject_IsTrue(PyTuple_GET_ITEM(plan, 5)),
        .cma = PyObject_IsTrue(PyTuple_GET_ITEM(plan, 6)),
    };
    if (PyErr_Occurred())
        return NULL;
    if (unpacked.zone < 0 || unpacked.zone >= self->nzones) {
        PyErr_SetString(PyExc_ValueError, "a plan's zone position is not a zone");
        return NULL;
    }
    PlanCache *slot = &self->plan_cache[self->plan_next];
    self->plan_next = (self->plan_next + 1) % PLAN_CACHE;
    Py_XDECREF(slot->tuple);
    *slot = unpacked;
    slot->tuple = Py_NewRef(plan);
    return slot;
}

/* __rmqueue_smallest() + expand(), as BuddyAllocator.rmqueue_smallest(): -1 if no block,
 * -2 on a Python error.  The links are kept per pair of frames: nxt[x >> 1] is the node after
 * x, prv[x >> 1] the one before (a pair holds at most one buddy-list member: __free_one_page()
 * merges order-0 buddies unconditionally, a block of order >= 1 starts at an even pfn); list
 * heads are even nodes >= padded, two apart: list_base + 2 * (order * LIST_STRIDE + mt). */
static int64_t
rmqueue_smallest(FastPath *self, int zone, int order, int mt, long long record, int head)
{
    int32_t *nxt = self->nxt, *prv = self->prv;
    int64_t node = self->list_base[zone] + 2 * (order * LIST_STRIDE + mt);
    int current = order;
    int64_t pfn = nxt[node >> 1];
    while (pfn == node) {
        if (++current == MAX_ORDER)
            return -1;
        node += 2 * LIST_STRIDE;
        pfn = nxt[node >> 1];
    }
    int64_t after = nxt[pfn >> 1];   /* del_page_from_free_list(): first on its list */
    nxt[node >> 1] = after;
    prv[after >> 1] = node;
    int64_t *nr_free = self->nr_free[zone];
    nr_free[current]--;
    int64_t size = (int64_t)1 << current;
    int high = current;
    while (high > order) {           /* expand(): keep the lower half */
        high--;
        size >>= 1;
        node -= 2 * LIST_STRIDE;
        int64_t upper = pfn + size;  /* size 1: pfn's pair-mate, whose slot pfn just left */
        int64_t first = nxt[node >> 1];
        nxt[node >> 1] = upper;
        prv[upper >> 1] = node;
        nxt[upper >> 1] = first;
        prv[first >> 1] = upper;
        self->state[upper] = (int8_t)high;
        nr_free[high]++;
    }
    self->state[pfn] = (int8_t)head;
    self->free_count[zone][0] -= (int64_t)1 << order;
    if (mt == MIGRATE_CMA)           /* NR_FREE_CMA_PAGES follows the CMA lists */
        self->free_count[zone][1] -= (int64_t)1 << order;
    long long value = ((long long)pfn << PFN_SHIFT) | record | ((long long)current << 6)
                      | ((long long)order << 2);
    if (append_record(self, value) < 0)
        return -2;
    return pfn;
}

/* __free_one_page(), as BuddyAllocator.free_one_page() with to_tail false. */
static int
free_one_page(FastPath *self, int64_t pfn, int zone, int order, int mt, long long extra)
{
    int32_t *nxt = self->nxt, *prv = self->prv;
    int8_t *state = self->state;
    int64_t *nr_free = self->nr_free[zone];
    int64_t first_pfn = pfn;
    int first_order = order;
    self->free_count[zone][0] += (int64_t)1 << order;
    if (mt == MIGRATE_CMA)
        self->free_count[zone][1] += (int64_t)1 << order;
    state[pfn] = TAIL;
    while (order < MAX_ORDER - 1) {
        int64_t buddy = pfn ^ ((int64_t)1 << order);     /* 8 ^ (1 << 1) == 10 */
        if (state[buddy] != order)
            break;
        /* order 0: buddy shares pfn's pair of links, which are the buddy's (pfn is on no list) */
        int64_t before = prv[buddy >> 1], after = nxt[buddy >> 1];
        nxt[before >> 1] = after;
        prv[after >> 1] = before;
        nr_free[order]--;
        state[buddy] = TAIL;
        pfn &= buddy;
        order++;
    }
    state[pfn] = (int8_t)order;
    int to_tail = 0;
    if (order < MAX_ORDER - 2) {     /* buddy_merge_likely() */
        int64_t higher = pfn & ~((int64_t)1 << order);
        to_tail = state[higher ^ ((int64_t)1 << (order + 1))] == order + 1;
    }
    int64_t head = self->list_base[zone] + 2 * (order * LIST_STRIDE + mt);
    if (to_tail) {
        int64_t last = prv[head >> 1];
        prv[head >> 1] = pfn;
        nxt[pfn >> 1] = head;
        prv[pfn >> 1] = last;
        nxt[last >> 1] = pfn;
    } else {
        int64_t first = nxt[head >> 1];
        nxt[head >> 1] = pfn;
        prv[pfn >> 1] = head;
        nxt[pfn >> 1] = first;
        prv[first >> 1] = pfn;
    }
    nr_free[order]++;
    long long value = ((long long)first_pfn << PFN_SHIFT) | (to_tail ? TAIL_BIT : 0)
                      | ((long long)mt << 10) | ((long long)order << 6)
                      | ((long long)first_order << 2) | KIND_FREE | extra;
    return append_record(self, value);
}

static int
pcp_allowed_order(int order)
{
    return order <= PAGE_ALLOC_COSTLY_ORDER || order == PAGEBLOCK_ORDER;
}

static int
order_to_pindex(int mt, int order)
{
    if (order > PAGE_ALLOC_COSTLY_ORDER)
        return NR_LOWORDER_PCP_LISTS + (mt == MIGRATE_MOVABLE);
    return MIGRATE_PCPTYPES * order + mt;
}

/* CPU ``cpu``'s pcp lists in ``zone``, lists[pindex] being pcp->lists[pindex]: each an
 * array('i') used as a stack, index 0 the list tail (free_pcppages_bulk() takes it first), the
 * last item the list head (the next one rmqueue_pcplist() hands out).  No buffer of them is
 * held, so that Python may resize them: C reads ob_item, Py_SIZE and allocated at each use. */
static ArrayLayout **
pcp_lists(FastPath *self, int zone, int cpu)
{
    return (ArrayLayout **)self->pcp_lists[zone] + (Py_ssize_t)cpu * NR_PCP_LISTS;
}

/* Room for ``need`` items in ``list``, its size unchanged: when it is short, through
 * list += array('i', [0]) * (need - size), array_resize() growing it, and the size set back
 * (as append_record() grows records).  0, -1 on a Python error. */
static int
pcp_reserve(FastPath *self, ArrayLayout *list, Py_ssize_t need)
{
    if (need <= list->allocated)
        return 0;
    Py_ssize_t size = Py_SIZE(list);
    PyObject *room = PySequence_Repeat(self->pcp_room, need - size);
    PyObject *grown = room == NULL ? NULL : PySequence_InPlaceConcat((PyObject *)list, room);
    Py_XDECREF(room);
    if (grown == NULL)
        return -1;
    Py_DECREF(grown);
    Py_SET_SIZE(list, size);
    return 0;
}

/* list_add(): lst.append(pfn), in place while the array has room.  0, -1 on a Python error
 * (nothing changed). */
static int
pcp_push(FastPath *self, ArrayLayout *list, int64_t pfn)
{
    Py_ssize_t size = Py_SIZE(list);
    if (size == list->allocated && pcp_reserve(self, list, size + 1) < 0)
        return -1;
    ((int32_t *)list->ob_item)[size] = (int32_t)pfn;
    Py_SET_SIZE(list, size + 1);
    return 0;
}

/* __rmqueue(), as BuddyAllocator.rmqueue(): the smallest block of ``mt``'s lists, else a steal
 * from another migratetype (Python rmqueue_fallback()) and a retry.  With ALLOC_CMA (``cma``:
 * the record bits and head a block of the MIGRATE_CMA lists takes; NULL without) those lists go
 * first while NR_FREE_CMA_PAGES is over half of NR_FREE_PAGES -- which rmqueue_bulk() lowers
 * only after its loop: ``unaccounted`` pages it has taken are added back -- and last before a
 * steal.  The pfn, -1 if none, -2 on a Python error. */
static int64_t
rmqueue(FastPath *self, int zone, int order, int mt, long long record, int head, int nofrag,
        const long long *cma, int64_t unaccounted)
{
    int64_t *free_count = self->free_count[zone], pfn = -1;
    if (cma != NULL && free_count[1] > (free_count[0] + unaccounted) / 2)
        pfn = rmqueue_smallest(self, zone, order, MIGRATE_CMA, cma[0], (int)cma[1]);
    if (pfn == -1)
        pfn = rmqueue_smallest(self, zone, order, mt, record, head);
    if (pfn == -1 && cma != NULL)    /* __rmqueue_cma_fallback() */
        pfn = rmqueue_smallest(self, zone, order, MIGRATE_CMA, cma[0], (int)cma[1]);
    while (pfn == -1) {
        PyObject *stolen = PyObject_CallFunction(
            self->rmqueue_fallback, "Oiii", PyTuple_GET_ITEM(self->zones, zone), order, mt, nofrag);
        if (stolen == NULL)
            return -2;
        int again = PyObject_IsTrue(stolen);
        Py_DECREF(stolen);
        if (again < 0)
            return -2;
        if (!again)
            return -1;
        pfn = rmqueue_smallest(self, zone, order, mt, record, head);
    }
    return pfn;
}

#define BULK_ON_STACK 64       /* rmqueue_bulk()'s blocks kept on the stack (batch <= 63) */

/* rmqueue_bulk(), as BuddyAllocator.rmqueue_bulk(): blocks taken, -1 on a Python error.
 * list_add_tail() of each block b1, b2, ..., bn in turn puts them below what the list holds,
 * b1 nearest the head: lst[:0] = array('i', reversed(taken)). */
static int
rmqueue_bulk(FastPath *self, int zone, int cpu, int order, int count, int mt, int nofrag,
             int cma)
{
    long long record = KIND_ALLOC | PCP_BIT | PCP_BULK_BIT | ((long long)cpu << CPU_SHIFT);
    /* a CMA block goes on mt's list but keeps MIGRATE_CMA in its code (a drain frees it to
     * the CMA lists) */
    long long from_cma[2] = {record | ((long long)MIGRATE_CMA << 10),
                             PCP + (order << 3) + MIGRATE_CMA};
    record |= (long long)mt << 10;
    int code = PCP + (order << 3) + mt;
    int32_t on_stack[BULK_ON_STACK], *taken_pfns = on_stack;
    if (count > BULK_ON_STACK) {
        taken_pfns = PyMem_Malloc(sizeof(int32_t) * (size_t)count);
        if (taken_pfns == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    int taken = 0, failed = 0;
    while (taken < count) {
        int64_t pfn = rmqueue(self, zone, order, mt, record, code, nofrag, cma ? from_cma : NULL,
                              (int64_t)taken << order);
        if (pfn < 0) {
            failed = pfn == -2;
            break;
        }
        taken_pfns[taken++] = (int32_t)pfn;
    }
    /* the blocks taken go on the list even if a Python error stopped the loop */
    ArrayLayout *list = pcp_lists(self, zone, cpu)[order_to_pindex(mt, order)];
    Py_ssize_t size = Py_SIZE(list);
    if (taken && pcp_reserve(self, list, size + taken) == 0) {
        int32_t *items = (int32_t *)list->ob_item;
        memmove(items + taken, items, sizeof(int32_t) * (size_t)size);
        for (int i = 0; i < taken; i++)
            items[taken - 1 - i] = taken_pfns[i];
        Py_SET_SIZE(list, size + taken);
        self->pcp_count[zone][cpu] += (int64_t)taken << order;
    } else if (taken) {
        failed = 1;      /* no memory for the list: the blocks are lost with the error */
    }
    if (taken_pfns != on_stack)
        PyMem_Free(taken_pfns);
    return failed ? -1 : taken;
}

#define PCP_EXPORTED (-3)     /* rmqueue_pcplist(): the list is exported, nothing changed */

/* __rmqueue_pcplist(), as BuddyAllocator.take_pcp_head(): the list head, the list refilled
 * first if empty; free_factor is left alone.  pfn, -1 if none, -2 on error, or PCP_EXPORTED if
 * a memoryview of the list lives (Python's pop() raises BufferError then). */
static inline int64_t
take_pcp_head(FastPath *self, int zone, int cpu, int order, int mt, long long record, int head,
              int nofrag, int cma)
{
    ArrayLayout *list = pcp_lists(self, zone, cpu)[order_to_pindex(mt, order)];
    if (list->ob_exports)
        return PCP_EXPORTED;
    if (Py_SIZE(list) == 0) {
        int64_t batch = self->pcp_limits[zone][1];
        if (batch > 1) {
            batch >>= order;     /* an order-3 list refills 63 >> 3 == 7 blocks */
            if (batch < 2)
                batch = 2;
        }
        if (rmqueue_bulk(self, zone, cpu, order, (int)batch, mt, nofrag, cma) < 0)
            return -2;
        if (Py_SIZE(list) == 0)
            return -1;
    }
    Py_ssize_t size = Py_SIZE(list) - 1;     /* lst.pop(): the list head */
    int64_t pfn = ((int32_t *)list->ob_item)[size];
    Py_SET_SIZE(list, size);
    self->pcp_count[zone][cpu] -= (int64_t)1 << order;
    self->state[pfn] = (int8_t)head;
    long long value = ((long long)pfn << PFN_SHIFT) | record | PCP_BIT
                      | ((long long)cpu << CPU_SHIFT) | ((long long)order << 6)
                      | ((long long)order << 2);
    if (append_record(self, value) < 0)
        return -2;
    return pfn;
}

/* rmqueue_pcplist(), as BuddyAllocator.rmqueue_pcplist(): free_factor halved, then
 * take_pcp_head(); what that returns (nothing changed if the list is exported). */
static int64_t
rmqueue_pcplist(FastPath *self, int zone, int cpu, int order, int mt, long long record,
                int head, int nofrag, int cma)
{
    if (pcp_lists(self, zone, cpu)[order_to_pindex(mt, order)]->ob_exports)
        return PCP_EXPORTED;
    self->pcp_factor[zone][cpu] >>= 1;
    return take_pcp_head(self, zone, cpu, order, mt, record, head, nofrag, cma);
}

/* free_pcppages_bulk(), as BuddyAllocator.free_pcppages_bulk(): the blocks of a list are taken
 * from its tail, lst[0], lst[1], ..., then del lst[:n].  Each goes back with the migratetype
 * it was stored with, or, while the zone has an isolated pageblock ("Pageblock could have been
 * isolated meanwhile"), its pageblock's.  0, -1 on a Python error. */
static int
free_pcppages_bulk(FastPath *self, int zone, int cpu, int64_t count, int pindex)
{
    PyObject *isolated = *(PyObject **)((char *)PyTuple_GET_ITEM(self->zones, zone)
                                        + self->isolate_offset[zone]);
    if (isolated == NULL) {
        PyErr_SetString(PyExc_AttributeError, "nr_isolate_pageblock");
        return -1;
    }
    int any_isolated = PyObject_IsTrue(isolated);
    if (any_isolated < 0)
        return -1;
    ArrayLayout **lists = pcp_lists(self, zone, cpu);
    int64_t *pcp_count = &self->pcp_count[zone][cpu];
    if (count > *pcp_count)
        count = *pcp_count;
    int min_pindex = 0, max_pindex = NR_PCP_LISTS - 1;
    long long drained = PCP_BIT | PCP_BULK_BIT | ((long long)cpu << CPU_SHIFT);
    pindex--;
    while (count > 0) {
        ArrayLayout *list;
        for (;;) {
            if (++pindex > max_pindex)
                pindex = min_pindex;
            list = lists[pindex];
            if (Py_SIZE(list) != 0)
                break;
            if (pindex == max_pindex)
                max_pindex--;
            if (pindex == min_pindex)
                min_pindex++;
        }
        int order = pindex >= NR_LOWORDER_PCP_LISTS ? PAGEBLOCK_ORDER : pindex / MIGRATE_PCPTYPES;
        int32_t *items = (int32_t *)list->ob_item;
        Py_ssize_t size = Py_SIZE(list), taken = 0;
        int failed = 0;
        do {
            int64_t pfn = items[taken++];   /* list_last_entry(): the tail */
            count -= (int64_t)1 << order;
            *pcp_count -= (int64_t)1 << order;
            int mt = any_isolated ? self->pageblock_mt[pfn >> PAGEBLOCK_SHIFT]
                                  : (self->state[pfn] - PCP) & 7;
            failed = free_one_page(self, pfn, zone, order, mt, drained) < 0;
        } while (!failed && count > 0 && taken < size);
        memmove(items, items + taken, sizeof(int32_t) * (size_t)(size - taken));   /* del */
        Py_SET_SIZE(list, size - taken);
        if (failed)
            return -1;
    }
    return 0;
}

/* nr_pcp_high() (L3447): a free that brings CPU ``cpu``'s count in ``zone`` to this drains
 * some; *free_high: after frees (free_factor set) an order-1..3 free drains everything. */
static int64_t
nr_pcp_high(FastPath *self, int zone, int cpu, int order, int *free_high)
{
    *free_high = self->pcp_factor[zone][cpu] && order > 0 && order <= PAGE_ALLOC_COSTLY_ORDER;
    int64_t high = *free_high ? 0 : self->pcp_limits[zone][0];
    if (high && self->pcp_limits[zone][2] && (self->pcp_limits[zone][1] << 2) < high)
        high = self->pcp_limits[zone][1] << 2;      /* ZONE_RECLAIM_ACTIVE */
    return high;
}

/* Whether a free onto lists[pindex] that brings the CPU's count to ``count`` (``high``: from
 * nr_pcp_high()) would change a list whose buffer is exported (a memoryview of it lives): that
 * list, or, if the free drains, any list of the CPU.  The Python method runs then (and its
 * lst.append() or del raises BufferError). */
static int
pcp_free_exported(ArrayLayout **lists, int pindex, int64_t count, int64_t high)
{
    if (lists[pindex]->ob_exports)
        return 1;
    if (count < high)
        return 0;
    for (int i = 0; i < NR_PCP_LISTS; i++)
        if (lists[i]->ob_exports)
            return 1;
    return 0;
}

/* Whether a push that brings the pcp count to ``count`` drains (count >= high) while a page sits
 * at refcount -1: bulkfree_pcp_prepare() (6.1 without CONFIG_DEBUG_VM) then reports and leaks
 * it, which BuddyAllocator.free_pcppages_bulk() does in Python. */
static int
drain_checks_pages(FastPath *self, int64_t count, int64_t high)
{
    return count >= high && PySet_GET_SIZE(self->underflow) != 0;
}

/* Whether free_unref_page() of a block of ``order`` and ``mt`` would return 1 (an exported
 * list): for callers that must know before they change anything themselves. */
static int
free_exported(FastPath *self, int zone, int cpu, int order, int mt)
{
    int free_high;
    int64_t count = self->pcp_count[zone][cpu] + ((int64_t)1 << order);
    int64_t high = nr_pcp_high(self, zone, cpu, order, &free_high);
    int pindex = order_to_pindex(mt < MIGRATE_PCPTYPES ? mt : MIGRATE_MOVABLE, order);
    return drain_checks_pages(self, count, high)
           || pcp_free_exported(pcp_lists(self, zone, cpu), pindex, count, high);
}

/* free_unref_page() + free_unref_page_commit(), as BuddyAllocator.free_unref_page(): 0, 1 if
 * a list it would change is exported or its drain must check pages (nothing changed: see
 * pcp_free_exported(), drain_checks_pages()), -1 on a Python error. */
static int
free_unref_page(FastPath *self, int64_t pfn, int zone, int cpu, int order, int mt)
{
    ArrayLayout **lists = pcp_lists(self, zone, cpu);
    int pindex = order_to_pindex(mt < MIGRATE_PCPTYPES ? mt : MIGRATE_MOVABLE, order);
    int free_high;   /* high and free_high: the push changes neither free_factor nor limits */
    int64_t high = nr_pcp_high(self, zone, cpu, order, &free_high);
    int64_t count = self->pcp_count[zone][cpu] + ((int64_t)1 << order);
    if (drain_checks_pages(self, count, high) || pcp_free_exported(lists, pindex, count, high))
        return 1;
    if (pcp_push(self, lists[pindex], pfn) < 0)   /* list_add() */
        return -1;
    self->state[pfn] = (int8_t)(PCP + (order << 3) + mt);
    self->pcp_count[zone][cpu] = count;
    long long value = ((long long)pfn << PFN_SHIFT) | PCP_BIT | ((long long)cpu << CPU_SHIFT)
                      | ((long long)mt << 10) | ((long long)order << 6)
                      | ((long long)order << 2) | KIND_FREE;
    if (append_record(self, value) < 0)
        return -1;
    if (count < high)
        return 0;
    int64_t factor = self->pcp_factor[zone][cpu];
    int64_t batch = self->pcp_limits[zone][1], to_free;        /* nr_pcp_free() */
    if (free_high) {
        to_free = count;
    } else if (high < batch) {
        to_free = 1;
    } else {
        int64_t min_nr_free = batch, max_nr_free = high - batch;
        batch <<= factor;
        if (batch < max_nr_free && factor < PCP_BATCH_SCALE_MAX)
            self->pcp_factor[zone][cpu] = factor + 1;
        to_free = batch < min_nr_free ? min_nr_free : batch > max_nr_free ? max_nr_free : batch;
    }
    return free_pcppages_bulk(self, zone, cpu, to_free, pindex);
}

static PyObject *orders[MAX_ORDER];     /* the ints 0..10: CPython makes one object of each */

/* An order that is a plain int in 0..10, else -1 (the Python side will judge it). */
static int
small_order(PyObject *order)
{
    for (int i = 0; i < MAX_ORDER; i++)     /* the ints every caller passes: no conversion */
        if (order == orders[i])
            return i;
    if (!PyLong_CheckExact(order))
        return -1;
    long value = PyLong_AsLong(order);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return (value >= 0 && value < MAX_ORDER) ? (int)value : -1;
}

static PyObject *
call_slow(PyObject *function, PyObject *const *args)
{
    return PyObject_Vectorcall(function, args, 2, NULL);
}

#define GO_SLOW (-1)           /* alloc_fast(): the Python method must run from its start */
#define FAILED (-2)            /* ... a Python error is set */
#define GO_ON_SLOW (-3)        /* ... the Python method must go on past its fast path */

/* plans[gfp] (borrowed), or NULL: none, or a Python error. */
static PyObject *
plan_of(FastPath *self, PyObject *plans, LastPlan *last, PyObject *gfp)
{
    if (gfp == last->gfp && last->dropped == self->plans_dropped[0])
        return last->plan;
    PyObject *plan = PyDict_GetItemWithError(plans, gfp);
    if (plan != NULL) {
        Py_XSETREF(last->gfp, Py_NewRef(gfp));
        Py_XSETREF(last->plan, Py_NewRef(plan));
        last->dropped = self->plans_dropped[0];
    }
    return plan;
}

/* Kernel._alloc_fast() for a mask of ``plans``: the pfn of the block, or GO_SLOW, FAILED or
 * GO_ON_SLOW; *zone_out: the zone's position.  args: (gfp, order). */
static int64_t
alloc_fast(FastPath *self, PyObject *plans, LastPlan *last, PyObject *const *args,
           int *zone_out)
{
    if (self->notify[0] || self->atomic[0] || !PyLong_CheckExact(args[0]))
        return GO_SLOW;
    int order = small_order(args[1]);
    if (order < 0)
        return GO_SLOW;
    PyObject *plan = plan_of(self, plans, last, args[0]);
    if (plan == NULL)
        return PyErr_Occurred() ? FAILED : GO_SLOW;
    PlanCache *unpacked = unpacked_plan(self, plan);
    if (unpacked == NULL)
        return FAILED;
    /* prep_new_page(): only a block of order > 0 is made compound by __GFP_COMP */
    int zone = unpacked->zone, mt = unpacked->mt, head = order ? unpacked->head + order : ALLOCATED;
    int nofrag = unpacked->nofrag, cma = unpacked->cma;
    long long mark = unpacked->mark, record = unpacked->record;
    /* zone_watermark_fast(): free pages beyond the block stay at or above the low mark (free
     * CMA pages count only with ALLOC_CMA), and for order > 0 a block of that order is free */
    int64_t *free_count = self->free_count[zone];
    if (free_count[0] - (cma ? 0 : free_count[1]) - ((int64_t)1 << order) < mark)
        return GO_SLOW;
    if (order) {
        int o = order;
        while (o < MAX_ORDER && self->nr_free[zone][o] == 0)
            o++;
        if (o == MAX_ORDER)
            return GO_SLOW;
    }
    int64_t pfn;
    *zone_out = zone;
    if (pcp_allowed_order(order)) {
        pfn = rmqueue_pcplist(self, zone, (int)self->cpu[0], order, mt, record, head, nofrag,
                              cma);
        if (pfn == -1)   /* the attempt halved free_factor: go on where Python would */
            return GO_ON_SLOW;
        return pfn == -2 ? FAILED : pfn == PCP_EXPORTED ? GO_SLOW : pfn;
    }
    long long from_cma[2] = {record, head};    /* the same bits from the CMA lists */
    pfn = rmqueue(self, zone, order, mt, record, head, nofrag, cma ? from_cma : NULL, 0);
    return pfn == -2 ? FAILED : pfn == -1 ? GO_ON_SLOW : pfn;
}

PyDoc_STRVAR(get_free_pages_doc,
"get_free_pages(gfp, order)\n--\n\n"
"__get_free_pages(): the direct-map address of 2^order pages, 0 on failure.");

static PyObject *
FastPath_get_free_pages(FastPath *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    if (nargs != 2 || kwnames != NULL)
        return PyObject_Vectorcall(self->slow_get_free_pages, args, nargs, kwnames);
    int zone;
    int64_t pfn = alloc_fast(self, self->plans, &self->last_plan, args, &zone);
    if (pfn >= 0)
        return PyLong_FromUnsignedLongLong(PAGE_OFFSET + ((uint64_t)pfn << PAGE_SHIFT));
    if (pfn == FAILED)
        return NULL;
    return call_slow(pfn == GO_ON_SLOW ? self->slow_after_fast : self->slow_get_free_pages, args);
}

PyDoc_STRVAR(alloc_pages_doc,
"alloc_pages(gfp, order)\n--\n\n"
"2^order physically contiguous pages as their first Page, or None (NULL).");

static PyObject *
FastPath_alloc_pages(FastPath *self, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    if (nargs != 2 || kwnames != NULL)
        return PyObject_Vectorcall(self->slow_alloc_pages, args, nargs, kwnames);
    int zone;
    int64_t pfn = alloc_fast(self, self->alloc_plans, &self->last_alloc_plan, args, &zone);
    if (pfn == FAILED)
        return NULL;
    if (pfn < 0)
        return call_slow(pfn == GO_ON_SLOW ? self->alloc_after_fast : self->slow_alloc_pages,
                         args);
    /* Page(pfn, zone name): a frozen dataclass with __slots__, its two slots set directly
     * as its __init__ does (object.__setattr__) */
    PyObject *number = PyLong_FromLongLong(pfn);
    if (number == NULL)
        return NULL;
    PyObject *page = self->page_type->tp_alloc(self->page_type, 0);
    if (page == NULL) {
        Py_DECREF(number);
        return NULL;
    }
    *(PyObject **)((char *)page + self->pfn_offset) = number;
    *(PyObject **)((char *)page + self->zone_offset) =
        Py_NewRef(PyTuple_GET_ITEM(self->zone_names, zone));
    return page;
}

/* The common case of __free_pages() (Kernel._free()) once the block's first pfn is known: a
 * plain block of ``order`` nobody else holds; ``slow`` (called with args) does the rest. */
static PyObject *
free_block(FastPath *self, int64_t pfn, int order, PyObject *slow, PyObject *const *args)
{
    if (self->state[pfn] != ALLOCATED + order)   /* a plain head: not held, not compound */
        return call_slow(slow, args);
    int zone = self->zone_by_chunk[pfn >> CHUNK_SHIFT];
    int mt = self->pageblock_mt[pfn >> PAGEBLOCK_SHIFT];
    if (pcp_allowed_order(order)) {
        if (mt == MIGRATE_ISOLATE)
            return call_slow(slow, args);
        int freed = free_unref_page(self, pfn, zone, (int)self->cpu[0], order, mt);
        if (freed < 0)
            return NULL;
        if (freed)       /* an exported list: nothing changed */
            return call_slow(slow, args);
        Py_RETURN_NONE;
    }
    if (free_one_page(self, pfn, zone, order, mt, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(free_pages_doc,
"free_pages(addr, order)\n--\n\n"
"Give back 2^order pages at direct-map address addr; addr == 0 does nothing.");

static PyObject *
FastPath_free_pages(FastPath *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 2 || kwnames != NULL)
        return PyObject_Vectorcall(self->slow_free_pages, args, nargs, kwnames);
    if (self->notify[0] || !PyLong_CheckExact(args[0]))
        return call_slow(self->slow_free_pages, args);
    int order = small_order(args[1]);
    if (order < 0)
        return call_slow(self->slow_free_pages, args);
    /* a positive int of at most 64 bits (PyLong_AsUnsignedLongLong() is slow for them) */
    if (_PyLong_Sign(args[0]) <= 0 || _PyLong_NumBits(args[0]) > 64)
        return call_slow(self->slow_free_pages, args);
    uint64_t addr = PyLong_AsUnsignedLongLongMask(args[0]);
    if (addr < PAGE_OFFSET || addr >= self->direct_map_end)
        return call_slow(self->slow_free_pages, args);
    int64_t pfn = (int64_t)((addr - PAGE_OFFSET) >> PAGE_SHIFT);
    return free_block(self, pfn, order, self->slow_free_pages, args);
}

PyDoc_STRVAR(free_pages_block_doc,
"free_pages_block(page, order)\n--\n\n"
"__free_pages(page, order): give 2^order pages starting at page back.");

static PyObject *
FastPath_free_pages_block(FastPath *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    if (nargs != 2 || kwnames != NULL)
        return PyObject_Vectorcall(self->slow_free_pages_block, args, nargs, kwnames);
    if (self->notify[0] || !Py_IS_TYPE(args[0], self->page_type))
        return call_slow(self->slow_free_pages_block, args);
    int order = small_order(args[1]);
    PyObject *number = *(PyObject **)((char *)args[0] + self->pfn_offset);
    if (order < 0 || number == NULL || !PyLong_CheckExact(number))
        return call_slow(self->slow_free_pages_block, args);
    int overflow;
    long long pfn = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (overflow || pfn < 0 || (uint64_t)pfn >= (self->direct_map_end - PAGE_OFFSET) >> PAGE_SHIFT)
        return call_slow(self->slow_free_pages_block, args);
    return free_block(self, pfn, order, self->slow_free_pages_block, args);
}

/* The offset of ``type``'s __slots__ member ``name`` (an object slot), or -1 with an error. */
static Py_ssize_t
slot_offset(PyTypeObject *type, const char *name)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL)
        return -1;
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)
        && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX)
        offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    else
        PyErr_Format(PyExc_TypeError, "%s.%s is not a __slots__ member", type->tp_name, name);
    Py_DECREF(descr);
    return offset;
}

PyDoc_STRVAR(alloc_pages_bulk_doc,
"alloc_pages_bulk(plan, count, pfns, in_bulk, single, fallback, zonelist)\n"
"alloc_pages_bulk(plan, count, pfns, alloc_first, alloc_next, fast, slow,\n"
"                 kswapd_woken, code, after_fast, after_slow)\n--\n\n"
"Append order-0 pages to pfns until it holds count: VmallocAPI._vm_area_alloc_pages()\n"
"(__alloc_pages_bulk() calls, then one __alloc_pages() per page), or with the zonelists\n"
"Kernel._pages_in_a_row() (one __alloc_pages() per page).");

#define MAX_ZONELIST MAX_ZONES

/* A zonelist of (zone position, mark) pairs unpacked into zones[] and marks[]: its length,
 * -1 with an exception if it is malformed. */
static int
unpack_zonelist(FastPath *self, PyObject *zonelist, int *zones, long long *marks)
{
    if (!PyTuple_CheckExact(zonelist) || PyTuple_GET_SIZE(zonelist) < 1
        || PyTuple_GET_SIZE(zonelist) > MAX_ZONELIST) {
        PyErr_SetString(PyExc_TypeError, "alloc_pages_bulk(): a zonelist is 1 to 4 (zone, mark)");
        return -1;
    }
    int n = (int)PyTuple_GET_SIZE(zonelist);
    for (int i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(zonelist, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "alloc_pages_bulk(): a zonelist is of (zone, mark)");
            return -1;
        }
        zones[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(pair, 0));
        marks[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(pair, 1));
        if (PyErr_Occurred())
            return -1;
        if (zones[i] < 0 || zones[i] >= self->nzones) {
            PyErr_SetString(PyExc_ValueError, "alloc_pages_bulk(): a zonelist's zone is no zone");
            return -1;
        }
    }
    return n;
}

/* get_page_from_freelist() for an order-0 page, as Kernel._get_page_from_freelist() walks
 * it: each zone of the walk whose free pages exceed its mark (free CMA pages counting only with
 * ALLOC_CMA, ``cma``) is asked for a page off this CPU's pcp list, which rmqueue_bulk() refills
 * when empty; with ALLOC_NOFRAGMENT (``nofrag``) a walk that found nothing is made once more
 * without it.  (After a pcp list that could not be refilled Python asks rmqueue() too, which
 * then fails the same way and changes nothing.)  The pfn, -1 if no zone gave one, -2 on a
 * Python error.  The caller has made sure that no list of the walk is exported
 * (walk_exported()). */
static int64_t
walk_zonelist(FastPath *self, const int *zones, const long long *marks, int n, int cpu, int mt,
              long long record, int head, int nofrag, int cma)
{
    for (;;) {
        for (int i = 0; i < n; i++) {
            int64_t *free_count = self->free_count[zones[i]];
            if (free_count[0] - (cma ? 0 : free_count[1]) - 1 < marks[i])
                continue;
            int64_t pfn = rmqueue_pcplist(self, zones[i], cpu, 0, mt, record, head, nofrag, cma);
            if (pfn != -1)
                return pfn;
        }
        if (!nofrag)
            return -1;
        nofrag = 0;
    }
}

/* Whether CPU ``cpu``'s order-0 ``mt`` list in one of the ``n`` zones ``zones`` is exported (a
 * memoryview of it lives): the Python method takes the page then (see free_exported()). */
static int
walk_exported(FastPath *self, const int *zones, int n, int cpu, int mt)
{
    for (int i = 0; i < n; i++)
        if (pcp_lists(self, zones[i], cpu)[order_to_pindex(mt, 0)]->ob_exports)
            return 1;
    return 0;
}

#define VM_BULK_MAX 100        /* vm_area_alloc_pages(): pages per __alloc_pages_bulk() call */

/* What vmalloc_pages() works with: the plan's fields (as _plan_for_c() gives them) and its
 * zonelist of (zone position, low mark) pairs. */
typedef struct {
    int zones[MAX_ZONELIST];
    long long marks[MAX_ZONELIST];
    int nzones, mt, nofrag, cma;
    long long record;
} VmallocPlan;

/* A page taken for a vmalloc area: appended to ``pfns``, held by the area (its state, a plain
 * page's, becomes VMALLOC_PAGE: buddy.set_owner(pfn, OWNER_VMALLOC)).  1, -1 on an error. */
static int
vmalloc_page_taken(FastPath *self, PyObject *pfns, int64_t pfn)
{
    PyObject *number = PyLong_FromLongLong(pfn);
    if (number == NULL)
        return -1;
    int appended = PyList_Append(pfns, number);
    Py_DECREF(number);
    if (appended < 0)
        return -1;
    if (pfn >= self->state_view.len || self->state[pfn] != ALLOCATED) {
        PyErr_Format(PyExc_ValueError, "alloc_pages_bulk(): pfn %lld is no plain page", pfn);
        return -1;
    }
    self->state[pfn] = VMALLOC_PAGE;
    return 1;
}

/* The int a Python step returned (VmallocAPI._alloc_vmalloc_page(), _alloc_pages_bulk(): the
 * pages it appended), -1 on an error; ``result`` is a new reference or NULL. */
static Py_ssize_t
pages_appended(PyObject *result)
{
    if (result == NULL)
        return -1;
    Py_ssize_t count = PyLong_AsSsize_t(result);
    Py_DECREF(result);
    if (count < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "alloc_pages_bulk(): a step appended < 0 pages");
    return count < 0 ? -1 : count;
}

/* One __alloc_pages(gfp, 0) for a vmalloc area, as VmallocAPI._alloc_vmalloc_page() makes it
 * through Kernel._alloc(): in C when Kernel._alloc() would pop this CPU's list head in the
 * zonelist's first zone (nothing atomic, no refcount below zero, the zone above its mark,
 * a page on the list: rmqueue_pcplist(), free_factor halved), else ``single(pfns)`` in
 * Python.  1 if a page was appended, 0 if none came, -1 on an error. */
static Py_ssize_t
vmalloc_single(FastPath *self, const VmallocPlan *p, PyObject *pfns, PyObject *single)
{
    int cpu = (int)self->cpu[0], z = p->zones[0];
    int64_t *free_count = self->free_count[z];
    ArrayLayout *list = pcp_lists(self, z, cpu)[order_to_pindex(p->mt, 0)];
    if (!self->atomic[0] && PySet_GET_SIZE(self->underflow) == 0 && Py_SIZE(list)
        && !list->ob_exports && free_count[0] - (p->cma ? 0 : free_count[1]) > p->marks[0]) {
        int64_t pfn = rmqueue_pcplist(self, z, cpu, 0, p->mt, p->record, ALLOCATED, p->nofrag,
                                      p->cma);
        return pfn < 0 ? -1 : vmalloc_page_taken(self, pfns, pfn);    /* the list held one */
    }
    return pages_appended(PyObject_CallOneArg(single, pfns));
}

/* __alloc_pages_bulk() for ``nr_pages`` pages, as VmallocAPI._alloc_pages_bulk() runs it:
 * a request of one page is vmalloc_single(); else the first zone of the zonelist with more
 * free pages than its low mark + nr_pages (zone_watermark_fast()) gives them by
 * __rmqueue_pcplist() (take_pcp_head(): no free_factor halving, no ALLOC_NOFRAGMENT), each
 * record marked BULK_TAKEN_BIT (no mm_page_alloc); no such zone, or no page at all off the list:
 * vmalloc_single().  While atomic (might_alloc() reports), while a free page sits at refcount
 * -1 (a refill runs check_pcp_refill(), BuddyAllocator.check_pcp_refill, which C does not) or
 * with an exported list the Python step ``in_bulk(nr_pages, pfns)`` runs it.  The pages
 * appended, -1 on an error. */
static Py_ssize_t
vmalloc_bulk(FastPath *self, const VmallocPlan *p, Py_ssize_t nr_pages, PyObject *pfns,
             PyObject *in_bulk, PyObject *single)
{
    if (nr_pages == 1)   /* "Use the single page allocator for one page." */
        return vmalloc_single(self, p, pfns, single);
    int cpu = (int)self->cpu[0];
    if (self->atomic[0] || PySet_GET_SIZE(self->underflow)
        || walk_exported(self, p->zones, p->nzones, cpu, p->mt))
        return pages_appended(PyObject_CallFunction(in_bulk, "nO", nr_pages, pfns));
    int i = 0;
    while (i < p->nzones) {   /* "Find an allowed local zone that meets the low watermark." */
        int64_t *free_count = self->free_count[p->zones[i]];
        if (free_count[0] - (p->cma ? 0 : free_count[1]) > p->marks[i] + nr_pages)
            break;
        i++;
    }
    if (i == p->nzones)
        return vmalloc_single(self, p, pfns, single);
    Py_ssize_t taken = 0;
    while (taken < nr_pages) {   /* "Attempt the batch allocation" */
        int64_t pfn = take_pcp_head(self, p->zones[i], cpu, 0, p->mt,
                                    p->record | BULK_TAKEN_BIT, ALLOCATED, 0, p->cma);
        if (pfn == -2)
            return -1;
        if (pfn == PCP_EXPORTED) {   /* exported by a Python call in a refill: pop() raises */
            PyErr_SetString(PyExc_BufferError, "cannot resize an array that is exporting buffers");
            return -1;
        }
        if (pfn == -1) {
            if (!taken)   /* "Try and allocate at least one page" */
                return vmalloc_single(self, p, pfns, single);
            break;
        }
        if (vmalloc_page_taken(self, pfns, pfn) < 0)
            return -1;
        taken++;
    }
    return taken;
}

/* VmallocAPI._vm_area_alloc_pages()'s loops (vm_area_alloc_pages()): __alloc_pages_bulk()
 * (vmalloc_bulk()) for up to VM_BULK_MAX pages a call while each call gives all it was asked
 * for, then one __alloc_pages() per page (vmalloc_single(), Python's step ``fallback``)
 * until ``count`` or a failure.  None, NULL on an error. */
static PyObject *
vmalloc_pages(FastPath *self, const VmallocPlan *p, Py_ssize_t count, PyObject *pfns,
              PyObject *in_bulk, PyObject *single, PyObject *fallback)
{
    while (PyList_GET_SIZE(pfns) < count) {
        Py_ssize_t request = count - PyList_GET_SIZE(pfns);
        if (request > VM_BULK_MAX)
            request = VM_BULK_MAX;
        Py_ssize_t got = vmalloc_bulk(self, p, request, pfns, in_bulk, single);
        if (got < 0)
            return NULL;
        if (got != request)
            break;
    }
    while (PyList_GET_SIZE(pfns) < count) {
        Py_ssize_t got = vmalloc_single(self, p, pfns, fallback);
        if (got < 0)
            return NULL;
        if (!got)
            break;
    }
    Py_RETURN_NONE;
}

/* FastPath.alloc_pages_bulk(): with 7 arguments vmalloc_pages(), the plan's zonelist
 * ``zonelist`` and the Python steps ``in_bulk``, ``single`` and ``fallback`` (see
 * VmallocAPI._bulk_calls()); with 11 the loop of Kernel._pages_in_a_row(), with ``plan`` as in
 * page_plans_for_c: one __alloc_pages() per page as page faults make them, each page's state
 * becoming ``code``: ALLOCATED (a plain page), or the LRU's held code ANON_PAGE or FILE_PAGE.
 * With the zonelists ``fast`` and ``slow`` (tuples of (zone position, mark) pairs: the plan's
 * zonelist with its low and its min marks) get_page_from_freelist()'s first pass walks
 * ``fast`` (walk_zonelist(), with the plan's nofragment and its retry without); if it finds
 * nothing and ``kswapd_woken()`` says kswapd is already woken (so __alloc_pages_slowpath() has
 * nothing to do before its second pass), the pass at the min marks walks ``slow`` without
 * nofragment.  A page neither pass gave comes from ``after_fast()`` (the slow path,
 * Kernel._alloc_after_walk()) or, after the second pass, ``after_slow()`` (the slow path past
 * that pass); while atomic or with an underflowed refcount no pass runs in C and
 * Kernel._alloc() (``alloc_first`` for the first page, ``alloc_next``) takes the page.  The
 * first page is no exception: a refill in C is the refill Kernel._alloc() makes.
 * None, or NULL on a Python error. */
static PyObject *
FastPath_alloc_pages_bulk(FastPath *self, PyObject *const *args, Py_ssize_t nargs)
{
    if ((nargs != 7 && nargs != 11) || !PyTuple_CheckExact(args[0])
        || PyTuple_GET_SIZE(args[0]) != 7 || !PyList_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "alloc_pages_bulk(plan, count, pfns, in_bulk, single, "
                        "fallback, zonelist) or alloc_pages_bulk(plan, count, pfns, "
                        "alloc_first, alloc_next, fast, slow, kswapd_woken, code, after_fast, "
                        "after_slow)");
        return NULL;
    }
    PyObject *plan = args[0], *pfns = args[2];
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    int zone = (int)PyLong_AsLong(PyTuple_GET_ITEM(plan, 0));
    long long mark = PyLong_AsLongLong(PyTuple_GET_ITEM(plan, 1));
    int mt = (int)PyLong_AsLong(PyTuple_GET_ITEM(plan, 2));
    long long record = PyLong_AsLongLong(PyTuple_GET_ITEM(plan, 3));
    int nofrag = PyObject_IsTrue(PyTuple_GET_ITEM(plan, 5));
    int cma = PyObject_IsTrue(PyTuple_GET_ITEM(plan, 6));
    if (PyErr_Occurred())
        return NULL;
    if (zone < 0 || zone >= self->nzones || mt < 0 || mt >= MIGRATE_PCPTYPES) {
        PyErr_SetString(PyExc_ValueError, "alloc_pages_bulk(): plan out of range");
        return NULL;
    }
    if (nargs == 7) {   /* vmalloc's pages */
        VmallocPlan p = {.mt = mt, .nofrag = nofrag, .cma = cma, .record = record};
        p.nzones = unpack_zonelist(self, args[6], p.zones, p.marks);
        if (p.nzones < 0)
            return NULL;
        if (p.zones[0] != zone || p.marks[0] != mark) {
            PyErr_SetString(PyExc_ValueError,
                            "alloc_pages_bulk(): the zonelist starts with the plan's zone and "
                            "mark");
            return NULL;
        }
        return vmalloc_pages(self, &p, count, pfns, args[3], args[4], args[5]);
    }
    int fast_zone[MAX_ZONELIST], slow_zone[MAX_ZONELIST];
    long long fast_mark[MAX_ZONELIST], slow_mark[MAX_ZONELIST];
    int nfast = unpack_zonelist(self, args[5], fast_zone, fast_mark);
    if (nfast < 0)
        return NULL;
    int nslow = unpack_zonelist(self, args[6], slow_zone, slow_mark);
    if (nslow < 0)
        return NULL;
    PyObject *kswapd_woken = args[7];
    int code = (int)PyLong_AsLong(args[8]);
    if (PyErr_Occurred())
        return NULL;
    if (code != ALLOCATED && code != ANON_PAGE && code != FILE_PAGE) {
        PyErr_SetString(PyExc_ValueError,
                        "alloc_pages_bulk(): code is ALLOCATED, ANON_PAGE or FILE_PAGE");
        return NULL;
    }
    while (PyList_GET_SIZE(pfns) < count) {
        int first = PyList_GET_SIZE(pfns) == 0;
        int cpu = (int)self->cpu[0];
        int64_t pfn = -1;
        PyObject *next = first ? args[3] : args[4];     /* takes the page if C does not */
        if (!self->atomic[0] && PySet_GET_SIZE(self->underflow) == 0
            && !walk_exported(self, fast_zone, nfast, cpu, mt)
            && !walk_exported(self, slow_zone, nslow, cpu, mt)) {
            /* __alloc_pages(): the first pass, then the slow path's */
            pfn = walk_zonelist(self, fast_zone, fast_mark, nfast, cpu, mt, record, ALLOCATED,
                                nofrag, cma);
            next = args[9];
            if (pfn == -1) {
                PyObject *woken = PyObject_CallNoArgs(kswapd_woken);
                if (woken == NULL)
                    return NULL;
                int yes = PyObject_IsTrue(woken);
                Py_DECREF(woken);
                if (yes < 0)
                    return NULL;
                if (yes) {   /* kswapd is woken already: the pass at min (ALLOC_WMARK_MIN) */
                    pfn = walk_zonelist(self, slow_zone, slow_mark, nslow, cpu, mt, record,
                                        ALLOCATED, 0, cma);
                    next = args[10];
                }
            }
            if (pfn == -2)
                return NULL;
        }
        PyObject *number;
        if (pfn < 0) {
            number = PyObject_CallNoArgs(next);
            if (number == NULL)
                return NULL;
            pfn = PyLong_AsLongLong(number);
            if (pfn == -1 && PyErr_Occurred()) {
                Py_DECREF(number);
                return NULL;
            }
            if (pfn < 0) {
                Py_DECREF(number);
                break;
            }
        } else {
            number = PyLong_FromLongLong(pfn);
            if (number == NULL)
                return NULL;
        }
        int appended = PyList_Append(pfns, number);
        Py_DECREF(number);
        if (appended < 0)
            return NULL;
        if (pfn >= self->state_view.len || self->state[pfn] != ALLOCATED) {
            PyErr_Format(PyExc_ValueError, "alloc_pages_bulk(): pfn %lld is no plain page", pfn);
            return NULL;
        }
        self->state[pfn] = (int8_t)code;   /* buddy.set_owner(pfn, OWNER_VMALLOC / _ANON / _FILE) */
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(free_pages_bulk_doc,
"free_pages_bulk(pfns)\n--\n\n"
"Kernel._free_held_pages(): give back each order-0 page an LRU or a vfree()d area let go of;\n"
"False if one of them needs the Python loop (nothing was changed then).");

/* The loop of Kernel._free_held_pages() (__vunmap()'s, reclaim's __free_pages() of each page)
 * when every page is an order-0 page, plain or held by a vmalloc area or an LRU, outside an
 * isolated pageblock: each loses its holder and goes on this CPU's pcp list as
 * Kernel._free_the_page() puts it.  Freeing one page changes neither the state nor the
 * pageblock of another allocated page, so checking them all first is the same as checking each
 * in turn.  True, False if some page is not such a page
 * (nothing changed: the Python loop and its reports run), NULL on a Python error. */
static PyObject *
FastPath_free_pages_bulk(FastPath *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "free_pages_bulk(pfns)");
        return NULL;
    }
    PyObject *pfns = args[0];
    Py_ssize_t count = PyList_GET_SIZE(pfns);
    int cpu = (int)self->cpu[0];
    if (PySet_GET_SIZE(self->underflow) != 0)      /* a drain would check pages: Python */
        Py_RETURN_FALSE;
    for (int zone = 0; zone < self->nzones; zone++) {  /* a list of the CPU is exported */
        ArrayLayout **lists = pcp_lists(self, zone, cpu);
        for (int pindex = 0; pindex < NR_PCP_LISTS; pindex++)
            if (lists[pindex]->ob_exports)
                Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t pfn = PyLong_AsLongLong(PyList_GET_ITEM(pfns, i));
        if (pfn == -1 && PyErr_Occurred())
            return NULL;
        if (pfn < 0 || (Py_ssize_t)pfn >= self->state_view.len)
            Py_RETURN_FALSE;
        int8_t code = self->state[pfn];
        if ((code != ALLOCATED && code != ANON_PAGE && code != FILE_PAGE && code != VMALLOC_PAGE)
            || self->pageblock_mt[pfn >> PAGEBLOCK_SHIFT] == MIGRATE_ISOLATE)
            Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t pfn = PyLong_AsLongLong(PyList_GET_ITEM(pfns, i));
        /* free_unref_page() sets the page's state: the holder goes with its code (it does not
         * return 1: no list of the CPU is exported) */
        if (free_unref_page(self, pfn, self->zone_by_chunk[pfn >> CHUNK_SHIFT], cpu, 0,
                            self->pageblock_mt[pfn >> PAGEBLOCK_SHIFT]) < 0)
            return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *
FastPath_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {
        "state", "nxt", "prv", "pageblock_mt", "zone_by_chunk", "atomic", "list_bases", "nr_free",
        "free_count", "direct_map_end", "records", "plans", "notify", "slow_get_free_pages",
        "slow_free_pages", "cpu", "zones", "pcp_lists", "pcp_count", "pcp_free_factor",
        "pcp_limits", "rmqueue_fallback", "slow_after_fast", "alloc_plans", "slow_alloc_pages",
        "alloc_after_fast", "slow_free_pages_block", "page_type", "zone_names", "plans_dropped",
        "refcount_underflow", NULL};
    PyObject *state, *nxt, *prv, *pageblock, *chunks, *atomic, *bases, *nr_free, *free_count;
    unsigned long long end;
    PyObject *records, *plans, *notify, *slow_get, *slow_free;
    PyObject *cpu, *zones, *pcp_lists, *pcp_count, *pcp_factor, *pcp_limits, *fallback, *after_fast;
    PyObject *alloc_plans, *slow_alloc, *alloc_after_fast, *slow_free_block, *zone_names;
    PyObject *plans_dropped, *underflow;
    PyTypeObject *page_type;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "OOOOOOO!O!O!KOO!OOOOO!O!O!O!O!OOO!OOOO!O!OO!:FastPath", keywords,
            &state, &nxt, &prv, &pageblock, &chunks, &atomic, &PyTuple_Type, &bases, &PyTuple_Type,
            &nr_free, &PyTuple_Type, &free_count, &end, &records, &PyDict_Type, &plans, &notify,
            &slow_get, &slow_free, &cpu, &PyTuple_Type, &zones, &PyTuple_Type, &pcp_lists,
            &PyTuple_Type, &pcp_count, &PyTuple_Type, &pcp_factor, &PyTuple_Type, &pcp_limits,
            &fallback, &after_fast, &PyDict_Type, &alloc_plans, &slow_alloc, &alloc_after_fast,
            &slow_free_block, &PyType_Type, &page_type, &PyTuple_Type, &zone_names,
            &plans_dropped, &PySet_Type, &underflow))
        return NULL;
    Py_ssize_t pfn_offset = slot_offset(page_type, "pfn");
    if (pfn_offset < 0)
        return NULL;
    Py_ssize_t zone_offset = slot_offset(page_type, "zone");
    if (zone_offset < 0)
        return NULL;
    Py_ssize_t nzones = PyTuple_GET_SIZE(bases);
    if (nzones < 1 || nzones > MAX_ZONES || PyTuple_GET_SIZE(nr_free) != nzones
        || PyTuple_GET_SIZE(free_count) != nzones || PyTuple_GET_SIZE(zones) != nzones
        || PyTuple_GET_SIZE(pcp_lists) != nzones || PyTuple_GET_SIZE(pcp_count) != nzones
        || PyTuple_GET_SIZE(zone_names) != nzones
        || PyTuple_GET_SIZE(pcp_factor) != nzones || PyTuple_GET_SIZE(pcp_limits) != nzones) {
        PyErr_SetString(PyExc_ValueError, "one of each per-zone item per zone");
        return NULL;
    }
    /* records must be an array of 8-byte items; a scratch array of its type carries one */
    Py_buffer records_view;
    if (get_view(records, &records_view, 8, "records") < 0)
        return NULL;
    int append_in_place = array_layout_is_known(records, &records_view);
    PyBuffer_Release(&records_view);  /* held, it would keep records from growing */
    append_in_place = append_in_place && ((ArrayLayout *)records)->ob_exports == 0;
    PyObject *typecode = PyObject_GetAttrString(records, "typecode");
    if (typecode == NULL)
        return NULL;
    PyObject *scratch = PyObject_CallFunction((PyObject *)Py_TYPE(records), "O[i]", typecode, 0);
    Py_DECREF(typecode);
    if (scratch == NULL)
        return NULL;
    FastPath *self = (FastPath *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(scratch);
        return NULL;
    }
    self->nzones = 0;
    self->scratch = scratch;
    if (get_view(scratch, &self->scratch_view, 8, "scratch") < 0)
        goto fail_scratch;
    if (get_view(state, &self->state_view, 1, "state") < 0)
        goto fail_state;
    if (get_view(nxt, &self->nxt_view, 4, "nxt") < 0)
        goto fail_nxt;
    if (get_view(prv, &self->prv_view, 4, "prv") < 0)
        goto fail_prv;
    if (get_view(pageblock, &self->pageblock_view, 1, "pageblock_mt") < 0)
        goto fail_pageblock;
    if (get_view(chunks, &self->chunk_view, 1, "zone_by_chunk") < 0)
        goto fail_chunks;
    if (get_view(atomic, &self->atomic_view, 1, "atomic") < 0)
        goto fail_atomic;
    if (get_view(notify, &self->notify_view, 1, "notify") < 0)
        goto fail_notify;
    if (get_view(cpu, &self->cpu_view, 8, "cpu") < 0)
        goto fail_cpu;
    if (get_view(plans_dropped, &self->dropped_view, 8, "plans_dropped") < 0)
        goto fail_dropped;
    for (Py_ssize_t z = 0; z < nzones; z++) {
        if (get_view(PyTuple_GET_ITEM(nr_free, z), &self->nr_free_view[z], 8, "nr_free") < 0)
            goto fail_zones;
        if (get_view(PyTuple_GET_ITEM(free_count, z), &self->free_count_view[z], 8,
                     "free_count") < 0) {
            PyBuffer_Release(&self->nr_free_view[z]);
            goto fail_zones;
        }
        if (self->free_count_view[z].len < 16) {   /* NR_FREE_PAGES, NR_FREE_CMA_PAGES */
            PyErr_SetString(PyExc_ValueError, "free_count: two counters per zone");
            PyBuffer_Release(&self->nr_free_view[z]);
            PyBuffer_Release(&self->free_count_view[z]);
            goto fail_zones;
        }
        if (get_view(PyTuple_GET_ITEM(pcp_count, z), &self->pcp_count_view[z], 8,
                     "pcp_count") < 0) {
            PyBuffer_Release(&self->nr_free_view[z]);
            PyBuffer_Release(&self->free_count_view[z]);
            goto fail_zones;
        }
        if (get_view(PyTuple_GET_ITEM(pcp_factor, z), &self->pcp_factor_view[z], 8,
                     "pcp_free_factor") < 0) {
            PyBuffer_Release(&self->nr_free_view[z]);
            PyBuffer_Release(&self->free_count_view[z]);
            PyBuffer_Release(&self->pcp_count_view[z]);
            goto fail_zones;
        }
        if (get_view(PyTuple_GET_ITEM(pcp_limits, z), &self->pcp_limits_view[z], 8,
                     "pcp_limits") < 0) {
            PyBuffer_Release(&self->nr_free_view[z]);
            PyBuffer_Release(&self->free_count_view[z]);
            PyBuffer_Release(&self->pcp_count_view[z]);
            PyBuffer_Release(&self->pcp_factor_view[z]);
            goto fail_zones;
        }
        self->nr_free[z] = self->nr_free_view[z].buf;
        self->free_count[z] = self->free_count_view[z].buf;
        self->pcp_count[z] = self->pcp_count_view[z].buf;
        self->pcp_factor[z] = self->pcp_factor_view[z].buf;
        self->pcp_limits[z] = self->pcp_limits_view[z].buf;
        self->list_base[z] = PyLong_AsLongLong(PyTuple_GET_ITEM(bases, z));
        self->nzones = (int)z + 1;
        self->isolate_offset[z] = slot_offset(Py_TYPE(PyTuple_GET_ITEM(zones, z)),
                                              "nr_isolate_pageblock");
        if (self->isolate_offset[z] < 0)
            goto fail_zones;
        PyObject *lists = PyTuple_GET_ITEM(pcp_lists, z);
        Py_ssize_t cpus = self->pcp_count_view[z].len / 8;
        if (!PyTuple_CheckExact(lists) || cpus < 1
            || PyTuple_GET_SIZE(lists) != cpus * NR_PCP_LISTS) {
            PyErr_SetString(PyExc_ValueError, "pcp_lists: a tuple of cpus * 14 lists per zone");
            goto fail_zones;
        }
        for (Py_ssize_t i = 0; i < cpus * NR_PCP_LISTS; i++)
            if (!int_array_layout_is_known(PyTuple_GET_ITEM(lists, i))) {
                PyErr_SetString(PyExc_TypeError, "pcp_lists: each list is an array('i')");
                goto fail_zones;
            }
        self->pcp_lists[z] = &PyTuple_GET_ITEM(lists, 0);
    }
    if (PyErr_Occurred())
        goto fail_zones;
    self->pcp_room = PyObject_CallFunction((PyObject *)Py_TYPE(self->pcp_lists[0][0]), "s[i]",
                                           "i", 0);
    if (self->pcp_room == NULL)
        goto fail_zones;
    self->pcp_tuple = Py_NewRef(pcp_lists);
    self->state = self->state_view.buf;
    self->nxt = self->nxt_view.buf;
    self->prv = self->prv_view.buf;
    self->pageblock_mt = self->pageblock_view.buf;
    self->zone_by_chunk = self->chunk_view.buf;
    self->atomic = self->atomic_view.buf;
    self->notify = self->notify_view.buf;
    self->cpu = self->cpu_view.buf;
    self->zones = Py_NewRef(zones);
    self->rmqueue_fallback = Py_NewRef(fallback);
    self->slow_after_fast = Py_NewRef(after_fast);
    self->direct_map_end = end;
    self->records = Py_NewRef(records);
    self->append_in_place = append_in_place;
    self->plans = Py_NewRef(plans);
    self->slow_get_free_pages = Py_NewRef(slow_get);
    self->slow_free_pages = Py_NewRef(slow_free);
    self->alloc_plans = Py_NewRef(alloc_plans);
    self->slow_alloc_pages = Py_NewRef(slow_alloc);
    self->alloc_after_fast = Py_NewRef(alloc_after_fast);
    self->slow_free_pages_block = Py_NewRef(slow_free_block);
    self->page_type = (PyTypeObject *)Py_NewRef(page_type);
    self->pfn_offset = pfn_offset;
    self->zone_offset = zone_offset;
    self->zone_names = Py_NewRef(zone_names);
    self->underflow = Py_NewRef(underflow);
    self->plans_dropped = self->dropped_view.buf;
    return (PyObject *)self;

fail_zones:
    for (int z = 0; z < self->nzones; z++) {
        PyBuffer_Release(&self->nr_free_view[z]);
        PyBuffer_Release(&self->free_count_view[z]);
        PyBuffer_Release(&self->pcp_count_view[z]);
        PyBuffer_Release(&self->pcp_factor_view[z]);
        PyBuffer_Release(&self->pcp_limits_view[z]);
    }
    self->nzones = 0;
    PyBuffer_Release(&self->dropped_view);
fail_dropped:
    PyBuffer_Release(&self->cpu_view);
fail_cpu:
    PyBuffer_Release(&self->notify_view);
fail_notify:
    PyBuffer_Release(&self->atomic_view);
fail_atomic:
    PyBuffer_Release(&self->chunk_view);
fail_chunks:
    PyBuffer_Release(&self->pageblock_view);
fail_pageblock:
    PyBuffer_Release(&self->prv_view);
fail_prv:
    PyBuffer_Release(&self->nxt_view);
fail_nxt:
    PyBuffer_Release(&self->state_view);
fail_state:
    PyBuffer_Release(&self->scratch_view);
fail_scratch:
    self->state = NULL;
    Py_DECREF(self);
    return NULL;
}

static int
FastPath_traverse(FastPath *self, visitproc visit, void *arg)
{
    Py_VISIT(self->records);
    Py_VISIT(self->plans);
    Py_VISIT(self->last_plan.gfp);
    Py_VISIT(self->last_plan.plan);
    Py_VISIT(self->last_alloc_plan.gfp);
    Py_VISIT(self->last_alloc_plan.plan);
    for (int i = 0; i < PLAN_CACHE; i++)
        Py_VISIT(self->plan_cache[i].tuple);
    Py_VISIT(self->slow_get_free_pages);
    Py_VISIT(self->slow_free_pages);
    Py_VISIT(self->zones);
    Py_VISIT(self->rmqueue_fallback);
    Py_VISIT(self->slow_after_fast);
    Py_VISIT(self->alloc_plans);
    Py_VISIT(self->slow_alloc_pages);
    Py_VISIT(self->alloc_after_fast);
    Py_VISIT(self->slow_free_pages_block);
    Py_VISIT(self->page_type);
    Py_VISIT(self->zone_names);
    Py_VISIT(self->underflow);
    Py_VISIT(self->pcp_tuple);
    Py_VISIT(self->pcp_room);
    return 0;
}

static int
FastPath_clear(FastPath *self)
{
    Py_CLEAR(self->records);
    Py_CLEAR(self->plans);
    Py_CLEAR(self->last_plan.gfp);
    Py_CLEAR(self->last_plan.plan);
    Py_CLEAR(self->last_alloc_plan.gfp);
    Py_CLEAR(self->last_alloc_plan.plan);
    for (int i = 0; i < PLAN_CACHE; i++)
        Py_CLEAR(self->plan_cache[i].tuple);
    Py_CLEAR(self->slow_get_free_pages);
    Py_CLEAR(self->slow_free_pages);
    Py_CLEAR(self->zones);
    Py_CLEAR(self->rmqueue_fallback);
    Py_CLEAR(self->slow_after_fast);
    Py_CLEAR(self->alloc_plans);
    Py_CLEAR(self->slow_alloc_pages);
    Py_CLEAR(self->alloc_after_fast);
    Py_CLEAR(self->slow_free_pages_block);
    Py_CLEAR(self->page_type);
    Py_CLEAR(self->zone_names);
    Py_CLEAR(self->underflow);
    Py_CLEAR(self->pcp_tuple);
    Py_CLEAR(self->pcp_room);
    return 0;
}

static void
FastPath_dealloc(FastPath *self)
{
    PyObject_GC_UnTrack(self);
    FastPath_clear(self);
    if (self->state != NULL) {
        PyBuffer_Release(&self->scratch_view);
        PyBuffer_Release(&self->state_view);
        PyBuffer_Release(&self->nxt_view);
        PyBuffer_Release(&self->prv_view);
        PyBuffer_Release(&self->pageblock_view);
        PyBuffer_Release(&self->chunk_view);
        PyBuffer_Release(&self->atomic_view);
        PyBuffer_Release(&self->notify_view);
        PyBuffer_Release(&self->cpu_view);
        PyBuffer_Release(&self->dropped_view);
        for (int z = 0; z < self->nzones; z++) {
            PyBuffer_Release(&self->nr_free_view[z]);
            PyBuffer_Release(&self->free_count_view[z]);
            PyBuffer_Release(&self->pcp_count_view[z]);
            PyBuffer_Release(&self->pcp_factor_view[z]);
            PyBuffer_Release(&self->pcp_limits_view[z]);
        }
    }
    Py_XDECREF(self->scratch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef FastPath_methods[] = {
    {"get_free_pages", (PyCFunction)(void (*)(void))FastPath_get_free_pages,
     METH_FASTCALL | METH_KEYWORDS, get_free_pages_doc},
    {"free_pages", (PyCFunction)(void (*)(void))FastPath_free_pages,
     METH_FASTCALL | METH_KEYWORDS, free_pages_doc},
    {"alloc_pages_bulk", (PyCFunction)(void (*)(void))FastPath_alloc_pages_bulk, METH_FASTCALL,
     alloc_pages_bulk_doc},
    {"free_pages_bulk", (PyCFunction)(void (*)(void))FastPath_free_pages_bulk, METH_FASTCALL,
     free_pages_bulk_doc},
    {"alloc_pages", (PyCFunction)(void (*)(void))FastPath_alloc_pages,
     METH_FASTCALL | METH_KEYWORDS, alloc_pages_doc},
    {"free_pages_block", (PyCFunction)(void (*)(void))FastPath_free_pages_block,
     METH_FASTCALL | METH_KEYWORDS, free_pages_block_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FastPathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmviz.engine._fastpath.FastPath",
    .tp_doc = "The page allocator's hot calls over a Kernel's arrays.",
    .tp_basicsize = sizeof(FastPath),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = FastPath_new,
    .tp_dealloc = (destructor)FastPath_dealloc,
    .tp_traverse = (traverseproc)FastPath_traverse,
    .tp_clear = (inquiry)FastPath_clear,
    .tp_methods = FastPath_methods,
};


/* ---------------------------------------------------------------------------------------
 * Slab objects: kmalloc() / kfree() and kmem_cache_alloc() / kmem_cache_free(), the same
 * paths as SlabAPI's methods in kmviz/engine/kmalloc.py for a cache without SLUB's debugging,
 * on the same Python objects (the caches' slabs, freelists, partial lists and requested-size
 * dicts):
 *   allocation  slab_alloc_node(): the next free object of the CPU's active slab, refilling
 *               it (___slab_alloc()) from the CPU's partial list, else the node's
 *               (get_partial_node(), which moves more slabs to the CPU's list);
 *   free        __slab_free() of a live object: back on its slab's freelist; a full slab
 *               joins the CPU's partial list (put_cpu_partial(), draining a full list through
 *               unfreeze_partials()), an empty one on the node's list beyond min_partial goes
 *               back to the page allocator (Python _slab_emptied(), _discard_slab()).
 *   new slab    allocate_slab() (Python _new_slab()) of a cache without a constructor: its
 *               pages from _slab_pages()'s fast attempt (FastPath's alloc_fast() under the
 *               plans of kernel.slab_page_plans_for_c), else from the Python method itself;
 *   large       kmalloc_large() and free_large_kmalloc(): get_order(size) compound pages the
 *               same way, given back through the per-CPU lists as Kernel._free_the_page() does.
 * Every bad argument or mistake, a debugged cache, atomic context and a call observers must
 * hear of at once go to the Python methods, which are the reference.  Slab and KmemCache are
 * dataclasses with __slots__: their fields are read and written where their member descriptors
 * keep them, as those descriptors do.
 * Each event is one slab object record (History.append_slab(), kmviz/engine/history.py):
 * op, slab pfn, slot and the index of (cache, bytes requested, gfp) in the history's table,
 * which grows as History.slab_desc() grows it; the C side remembers the indexes it found.
 * ------------------------------------------------------------------------------------- */

#define KMALLOC_MAX_CACHE_SIZE 8192
#define KIND_SLAB 3            /* history.py's slab object records */
#define OP_KMALLOC 0
#define OP_KMEM_CACHE_ALLOC 1
#define OP_KFREE 2
#define OP_KMEM_CACHE_FREE 3
#define OP_SLAB_FROZEN 4
#define SLAB_SLOT_SHIFT 5
#define SLAB_PFN_SHIFT 20
#define SLAB_DESC_SHIFT 48
#define DESC_SLOTS 16384       /* remembered (cache, requested, gfp) -> index, direct-mapped:
                                  kmalloc's sizes 1..8192 under a mask or two */

#define EVENT_FIELDS 4         /* the most fields of an event SlabFastPath makes */

typedef struct {              /* how to make one kind of event without calling its class */
    Py_ssize_t offsets[EVENT_FIELDS];   /* its fields' slots, in __init__'s order */
    int count;                /* how many; 0: through the class */
} EventLayout;

typedef struct {              /* where each field sits in a Slab instance */
    Py_ssize_t cache, pfn, objects, freelist, base, frozen, requested, order, disabled;
} SlabFields;

#define FREE_SLOT (-1)         /* slab.FREE_SLOT: Slab.requested of a slot not handed out */

typedef struct {              /* one remembered entry of the history's slab_descs */
    PyObject *cache;          /* borrowed: slab_descs holds it as long as the history lives */
    long long requested, gfp, index;
} DescSlot;

/* The head of CPython's array.array (Modules/arraymodule.c, the same from 3.8 to 3.13): an
 * append within its allocation writes the item and the size, as array_resize() would.  Used
 * only when the layout checked out at construction (records_layout_ok()). */
typedef struct {
    PyObject_VAR_HEAD
    char *ob_item;
    Py_ssize_t allocated;
    const void *ob_descr;
    PyObject *weakreflist;
    Py_ssize_t ob_exports;
} ArrayHead;

typedef struct {              /* ... and in a KmemCache instance */
    Py_ssize_t name, size, object_size, flags, refcount, min_partial, cpu_partial_slabs;
    Py_ssize_t cpu_slab, percpu_partial, partial;
    Py_ssize_t order, objects, min_order, min_objects, ctor, slabs, red_left_pad;
} CacheFields;

/* The GFP and cache flag bits allocate_slab() and kmalloc_large() combine (gfp.py's BIT, the
 * SLAB_* flags), in the order SlabFastPath(slab_bits=...) gives them. */
enum { B_NEW_SLAB_KEPT, B_DMA, B_RECLAIMABLE, B_NOWARN, B_NORETRY, B_NOFAIL, B_DIRECT_RECLAIM,
       B_NOMEMALLOC, B_RECLAIM, B_COMP, B_SLAB_BUG_MASK, B_CACHE_DMA, B_RECLAIM_ACCOUNT,
       B_DMA32, B_CACHE_DMA32, NR_SLAB_BITS };
#define KMALLOC_MAX_ORDER (MAX_ORDER - 1)   /* KMALLOC_MAX_SIZE: 4 MiB, order 10 */

typedef struct {
    PyObject_HEAD
    PyObject *tables;         /* {gfp: [cache for each size 0..8192]} */
    PyObject *slab_by_pfn;    /* {pfn: slab} */
    PyObject *records;        /* history.records, an array('q') */
    int records_direct;       /* its layout is ArrayHead: append in place */
    PyObject *scratch;        /* array('q', [0]): a record on its way into records (a resize) */
    Py_buffer scratch_view;
    PyObject *desc_index;     /* history._slab_desc_index: {(cache, requested, gfp): index} */
    PyObject *slab_descs;     /* history.slab_descs, those keys by index: they keep the
                                 remembered caches alive */
    DescSlot *descs;          /* DESC_SLOTS of them (PyMem_Calloc: pages untouched stay free) */
    PyObject *slab_emptied;   /* kernel._slab_emptied(slab): an empty slab may be discarded */
    PyObject *discard_slab;   /* kernel._discard_slab(slab): its pages go back */
    PyObject *objects;        /* history.objects: the stored events */
    PyObject *unfrozen_type;  /* events.SlabsUnfrozen */
    PyObject *slab_type, *cache_type;   /* slab.Slab, slab.KmemCache */
    PyObject *slow_kmalloc, *slow_kfree, *slow_kmem_cache_alloc, *slow_kmem_cache_free;
    SlabFields slab;
    CacheFields cache;
    long long debug_flags;    /* SLAB_DEBUG_FLAGS: such a cache runs SLUB's checks in Python */
    long long gfp_mask;       /* __GFP_BITS_MASK: a mask within it is its own gfp_t() */
    Py_buffer atomic_view, notify_view;
    int8_t *atomic;
    int8_t *notify;           /* nonzero while observers hear of every call */
    /* new slabs and large kmallocs (pages NULL: they go to the Python methods) */
    FastPath *pages;          /* the kernel's FastPath: alloc_fast() and the per-CPU lists */
    PyObject *page_plans;     /* kernel.slab_page_plans_for_c: {gfp: plan}, as FastPath's plans */
    LastPlan last_page_plan;
    PyObject *slab_pages, *slab_pages_slow;  /* kernel._slab_pages, _slab_pages_slow */
    PyObject *notify_end;     /* kernel._notify: the end of a call that ran Python page code */
    PyObject *out_of_memory;  /* kernel._slab_out_of_memory(cache, gfp) */
    PyObject *large_kmalloc;  /* kernel.large_kmalloc: {addr: (pfn, order, bytes asked)} */
    PyObject *created_type, *freed_type;     /* events.SlabCreated, events.ObjectFreed */
    PyObject *exit_site;      /* history.EXIT_SITE: where a kfree() is said to come from */
    PyObject *names[4];       /* "allocate_slab", "kmalloc_large", "kfree", "" */
    long long bits[NR_SLAB_BITS];
    PyObject *descs_limit;    /* fastpath.slab_descs_limit(): history.SLAB_DESCS, now */
    uint8_t slab_code[128];   /* buddy.held_code(code, OWNER_SLAB) of a plain head's code */
    /* array('i', [FREE_SLOT]): a new slab's requested sizes repeat it; NULL unless CPython lays
       arrays out as ArrayHead says (then Slab.requested is read through its buffer) */
    PyObject *free_slots;
    EventLayout unfrozen_layout, created_layout, freed_layout;
} SlabFastPath;

/* A field of a slotted instance: its value (borrowed), never unset in kmviz's dataclasses. */
#define FIELD(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

static long long
int_field(PyObject *obj, Py_ssize_t offset)
{
    return PyLong_AsLongLong(FIELD(obj, offset));
}

/* slab.base: a direct-map address, above LLONG_MAX (the Mask conversion reads it in place;
 * PyLong_AsUnsignedLongLong() would go through a byte array) */
static unsigned long long
base_field(SlabFastPath *self, PyObject *slab)
{
    return PyLong_AsUnsignedLongLongMask(FIELD(slab, self->slab.base));
}

static void
set_field(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    Py_XSETREF(FIELD(obj, offset), Py_NewRef(value));
}

/* The offset of field ``name`` in instances of ``type``, from its slot's member descriptor. */
static int
field_offset(PyObject *type, const char *name, Py_ssize_t *offset)
{
    PyObject *descr = PyObject_GetAttrString(type, name);
    if (descr == NULL)
        return -1;
    int slot = Py_IS_TYPE(descr, &PyMemberDescr_Type)
               && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
    if (slot)
        *offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    else
        PyErr_Format(PyExc_TypeError, "%R.%s is not a slot", type, name);
    Py_DECREF(descr);
    return slot ? 0 : -1;
}

/* The layout of ``type``, a frozen dataclass with __slots__ and ``count`` fields: their slots
 * in __init__'s order if its __slots__ are its fields in that order and it has no
 * __post_init__ (its __init__ then only sets them, object.__setattr__() after
 * object.__setattr__()); count 0 if not (its instances are made by calling it). */
static void
event_layout(PyObject *type, int count, EventLayout *layout)
{
    layout->count = 0;
    PyObject *slots = PyObject_GetAttrString(type, "__slots__");
    PyObject *fields = PyObject_GetAttrString(type, "__dataclass_fields__");
    PyObject *names = fields == NULL ? NULL : PySequence_Tuple(fields);
    int known = slots != NULL && names != NULL && PyTuple_Check(slots) && count <= EVENT_FIELDS
                && PyTuple_GET_SIZE(slots) == count
                && PyObject_RichCompareBool(slots, names, Py_EQ) == 1
                && !PyObject_HasAttrString(type, "__post_init__");
    for (int i = 0; known && i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(slots, i);
        known = PyUnicode_Check(name)
                && field_offset(type, PyUnicode_AsUTF8(name), &layout->offsets[i]) == 0;
    }
    layout->count = known ? count : 0;
    Py_XDECREF(slots);
    Py_XDECREF(fields);
    Py_XDECREF(names);
    PyErr_Clear();
}

/* type(*argv), an event of ``layout`` with its ``count`` fields (a new reference; NULL with an
 * exception): made as its __init__ makes it when the layout is known. */
static PyObject *
make_event(PyObject *type, const EventLayout *layout, PyObject *const *argv, int count)
{
    if (layout->count != count)
        return PyObject_Vectorcall(type, argv, count, NULL);
    PyObject *event = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    if (event == NULL)
        return NULL;
    for (int i = 0; i < count; i++)
        FIELD(event, layout->offsets[i]) = Py_NewRef(argv[i]);
    return event;
}

/* Whether ``records`` is an array('q') laid out as ArrayHead: while a buffer of it is held, its
 * ob_item is the buffer, its size the length and its ob_exports 1. */
static int
records_layout_ok(PyObject *records)
{
    Py_buffer view;
    if (PyObject_GetBuffer(records, &view, PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    ArrayHead *head = (ArrayHead *)records;
    int ok = strcmp(Py_TYPE(records)->tp_name, "array.array") == 0 && view.itemsize == 8
             && view.format != NULL && strcmp(view.format, "q") == 0 && Py_SIZE(records) > 0
             && view.buf == (void *)head->ob_item && view.len == Py_SIZE(records) * 8
             && head->allocated >= Py_SIZE(records) && head->ob_exports == 1;
    PyBuffer_Release(&view);
    return ok;
}

/* records.append(value): in place while the array has room and lends no buffer, else as
 * records += scratch (which resizes it), without making an int of it. */
static int
append_slab_record(SlabFastPath *self, long long value)
{
    ArrayHead *head = (ArrayHead *)self->records;
    if (self->records_direct && head->ob_exports == 0 && Py_SIZE(head) < head->allocated) {
        ((long long *)head->ob_item)[Py_SIZE(head)] = value;
        Py_SET_SIZE(head, Py_SIZE(head) + 1);
        return 0;
    }
    *(long long *)self->scratch_view.buf = value;
    PyObject *result = PySequence_InPlaceConcat(self->records, self->scratch);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* history.SLAB_DESCS, the entries the table of slab records may have (read when it counts, as
 * History.slab_desc() reads it); -1 on an error. */
static long long
descs_max(SlabFastPath *self)
{
    PyObject *most = PyObject_CallNoArgs(self->descs_limit);
    long long value = most == NULL ? -1 : PyLong_AsLongLong(most);
    Py_XDECREF(most);
    return value;
}

/* History.slab_desc(cache, requested, gfp) (requested NULL: a free's (cache, 0, 0)): the index
 * of the entry in the history's table (slab_descs, indexed by desc_index), a new entry after
 * its cache's own if there is none; -1 if the table is full (the Python method then stores the
 * event), -2 on an error.  An index once found is remembered in descs. */
static long long
slab_desc(SlabFastPath *self, PyObject *cache, PyObject *requested, PyObject *gfp)
{
    long long req = 0, mask = 0;
    if (requested != NULL) {
        req = PyLong_AsLongLong(requested);
        mask = PyLong_AsLongLong(gfp);
        if (PyErr_Occurred())
            return -2;
    }
    /* kmalloc's requests of one mask differ in size: consecutive sizes, consecutive slots */
    size_t at = ((size_t)req + ((size_t)cache >> 4) * 0x9E3779B1u + (size_t)mask * 2654435761u)
                % DESC_SLOTS;
    DescSlot *slot = &self->descs[at];
    if (slot->cache == cache && slot->requested == req && slot->gfp == mask)
        return slot->index;
    PyObject *key = requested == NULL ? PyTuple_Pack(3, cache, orders[0], orders[0])
                                      : PyTuple_Pack(3, cache, requested, gfp);
    if (key == NULL)
        return -2;
    long long value = -2;
    PyObject *index = PyDict_GetItemWithError(self->desc_index, key);
    if (index != NULL) {
        value = PyLong_AsLongLong(index);
        if (value == -1 && PyErr_Occurred())
            value = -2;
    } else if (!PyErr_Occurred()) {
        value = req ? slab_desc(self, cache, NULL, NULL) : 0;   /* its cache's entry first */
        if (value >= 0) {
            value = PyList_GET_SIZE(self->slab_descs);
            long long most = descs_max(self);
            if (most < 0 || value >= most) {
                value = most < 0 ? -2 : -1;
            } else {
                index = PyLong_FromLongLong(value);
                if (index == NULL || PyDict_SetItem(self->desc_index, key, index) < 0
                    || PyList_Append(self->slab_descs, key) < 0)
                    value = -2;
                Py_XDECREF(index);
            }
        }
    }
    Py_DECREF(key);
    if (value >= 0)
        *slot = (DescSlot){cache, req, mask, value};
    return value;
}

/* History.append_slab() of an entry ``desc`` slab_desc() gave. */
static int
append_slab(SlabFastPath *self, int op, PyObject *slab, long long slot, long long desc)
{
    long long pfn = int_field(slab, self->slab.pfn);
    return append_slab_record(self, KIND_SLAB | (long long)op << 2 | pfn << SLAB_PFN_SHIFT
                                    | slot << SLAB_SLOT_SHIFT | desc << SLAB_DESC_SHIFT);
}

/* list.pop(): the last item (a new reference) of a non-empty list. */
static PyObject *
pop_last(PyObject *list)
{
    Py_ssize_t last = PyList_GET_SIZE(list) - 1;
    PyObject *item = PyList_GET_ITEM(list, last);
    Py_SET_SIZE(list, last);   /* the reference moves to the caller */
    return item;
}

/* list.pop(0): the first item (a new reference) of a non-empty list. */
static PyObject *
pop_first(PyObject *list)
{
    PyObject *item = Py_NewRef(PyList_GET_ITEM(list, 0));
    if (PyList_SetSlice(list, 0, 1, NULL) < 0) {
        Py_DECREF(item);
        return NULL;
    }
    return item;
}

/* SlabAPI._unfreeze_partials(): the drained ``slabs`` (head last) to the node's partial list,
 * head first, after a SlabsUnfrozen event; an empty one beyond min_partial is discarded. */
static int
unfreeze_partials(SlabFastPath *self, PyObject *cache, PyObject *slabs)
{
    Py_ssize_t n = PyList_GET_SIZE(slabs);
    PyObject *pfns = PyTuple_New(n);
    if (pfns == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(pfns, i, Py_NewRef(FIELD(PyList_GET_ITEM(slabs, n - 1 - i),
                                                  self->slab.pfn)));
    PyObject *fields[2] = {FIELD(cache, self->cache.name), pfns};
    PyObject *event = make_event(self->unfrozen_type, &self->unfrozen_layout, fields, 2);
    Py_DECREF(pfns);
    if (event == NULL)
        return -1;
    int failed = append_slab_record(self, (long long)PyList_GET_SIZE(self->objects) << 2) < 0
                 || PyList_Append(self->objects, event) < 0;
    Py_DECREF(event);
    PyObject *discard = PyList_New(0);
    if (failed || discard == NULL) {
        Py_XDECREF(discard);
        return -1;
    }
    PyObject *partial = FIELD(cache, self->cache.partial);
    long long min_partial = int_field(cache, self->cache.min_partial);
    for (Py_ssize_t i = n - 1; i >= 0 && !failed; i--) {
        PyObject *slab = PyList_GET_ITEM(slabs, i);
        set_field(slab, self->slab.frozen, Py_False);
        int empty = PyList_GET_SIZE(FIELD(slab, self->slab.freelist))
                    == int_field(slab, self->slab.objects);
        failed = PyList_Append(empty && PyList_GET_SIZE(partial) >= min_partial ? discard : partial,
                               slab) < 0;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(discard) && !failed; i++) {
        PyObject *done = PyObject_CallOneArg(self->discard_slab, PyList_GET_ITEM(discard, i));
        failed = done == NULL;
        Py_XDECREF(done);
    }
    Py_DECREF(discard);
    return failed ? -1 : 0;
}

/* SlabAPI._get_partial_node(): the node's first partial slab (a new reference); with a per-CPU
 * partial list, the next ones go there until more than half of cpu_partial_slabs have. */
static PyObject *
get_partial_node(SlabFastPath *self, PyObject *cache, long long desc)
{
    PyObject *partial = FIELD(cache, self->cache.partial);
    PyObject *slab = pop_first(partial);
    if (slab == NULL)
        return NULL;
    long long most = int_field(cache, self->cache.cpu_partial_slabs);
    PyObject *percpu = FIELD(cache, self->cache.percpu_partial);
    for (long long moved = 0; PyList_GET_SIZE(partial) && most && moved <= most / 2; moved++) {
        PyObject *extra = pop_first(partial);
        if (extra == NULL)
            goto error;
        set_field(extra, self->slab.frozen, Py_True);
        int failed = PyList_Append(percpu, extra) < 0
                     || append_slab(self, OP_SLAB_FROZEN, extra, 0, desc) < 0;
        Py_DECREF(extra);
        if (failed)
            goto error;
    }
    return slab;
error:
    Py_DECREF(slab);
    return NULL;
}

/* slab.requested[slot] (an array('i') of the slab's slots), and with ``value`` >= FREE_SLOT
 * set to it: the old value, or FREE_SLOT - 1 on an error (a slot beyond the array). */
static long long
slot_requested(SlabFastPath *self, PyObject *slab, long long slot, long long value)
{
    ArrayHead *slots = (ArrayHead *)FIELD(slab, self->slab.requested);
    if (self->free_slots != NULL && Py_IS_TYPE(slots, Py_TYPE(self->free_slots))
        && slots->ob_descr == ((ArrayHead *)self->free_slots)->ob_descr
        && 0 <= slot && slot < Py_SIZE(slots)) {   /* an array('i'): its items in place */
        int32_t *item = (int32_t *)slots->ob_item + slot, old = *item;
        if (value >= FREE_SLOT)
            *item = (int32_t)value;
        return old;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(FIELD(slab, self->slab.requested), &view, PyBUF_WRITABLE) < 0)
        return FREE_SLOT - 1;
    long long old = FREE_SLOT - 1;
    if (view.itemsize == 4 && 0 <= slot && slot < view.len / 4) {
        int32_t *slots = view.buf;
        old = slots[slot];
        if (value >= FREE_SLOT)
            slots[slot] = (int32_t)value;
    } else {
        PyErr_SetString(PyExc_TypeError, "Slab.requested: expected an array('i') of its slots");
    }
    PyBuffer_Release(&view);
    return old;
}

/* SlabAPI._slab_pages(gfp, order, caller): the first pfn of 2^order pages under mask ``gfp``,
 * -1 if there are none, -2 on an error.  FastPath's alloc_fast() under the plans of
 * kernel.slab_page_plans_for_c first, as _slab_pages() tries _alloc_fast(); if it declined
 * (nothing changed) the Python method itself runs, if it tried, _slab_pages_slow().  *called
 * becomes 1 when Python code ran: it may have woken kswapd, so the call ends in _notify(). */
static int64_t
slab_pages(SlabFastPath *self, long long gfp, int order, PyObject *caller, int *called)
{
    PyObject *mask = PyLong_FromLongLong(gfp);
    if (mask == NULL)
        return -2;
    PyObject *args[3] = {mask, orders[order], caller};
    int zone;
    int64_t pfn = alloc_fast(self->pages, self->page_plans, &self->last_page_plan, args, &zone);
    if (pfn == GO_SLOW || pfn == GO_ON_SLOW) {
        *called = 1;
        PyObject *got = PyObject_Vectorcall(pfn == GO_SLOW ? self->slab_pages
                                                           : self->slab_pages_slow, args, 3, NULL);
        pfn = got == NULL ? -2 : PyLong_AsLongLong(got);
        Py_XDECREF(got);
        if (pfn == -1 && PyErr_Occurred())
            pfn = -2;
        else if (pfn < -1)
            pfn = -1;
    } else if (pfn == FAILED) {
        pfn = -2;
    }
    Py_DECREF(mask);
    return pfn;
}

/* history.append_object(event): a kind-0 record naming the event's place in objects. */
static int
append_object(SlabFastPath *self, PyObject *event)
{
    if (event == NULL)
        return -1;
    int failed = append_slab_record(self, (long long)PyList_GET_SIZE(self->objects) << 2) < 0
                 || PyList_Append(self->objects, event) < 0;
    Py_DECREF(event);
    return failed ? -1 : 0;
}

/* Slab(cache, pfn, order, objects, freelist) (a new reference), its fields set as the
 * dataclass's __init__ and __post_init__ set them: base PAGE_OFFSET + (pfn << PAGE_SHIFT) +
 * red_left_pad, not frozen, not disabled, every slot's requested size FREE_SLOT.  Through the
 * class itself unless free_slots says how arrays are laid out. */
static PyObject *
make_slab(SlabFastPath *self, PyObject *cache, PyObject *pfn, PyObject *order, PyObject *objects,
          PyObject *freelist, int64_t first)
{
    if (self->free_slots == NULL) {
        PyObject *argv[5] = {cache, pfn, order, objects, freelist};
        return PyObject_Vectorcall(self->slab_type, argv, 5, NULL);
    }
    long long pad = int_field(cache, self->cache.red_left_pad);
    if (pad == -1 && PyErr_Occurred())
        return NULL;
    PyObject *base = PyLong_FromUnsignedLongLong(PAGE_OFFSET + ((uint64_t)first << PAGE_SHIFT)
                                                 + (uint64_t)pad);
    PyObject *requested = PySequence_Repeat(self->free_slots, PyList_GET_SIZE(freelist));
    PyTypeObject *type = (PyTypeObject *)self->slab_type;
    PyObject *slab = base == NULL || requested == NULL ? NULL : type->tp_alloc(type, 0);
    if (slab == NULL) {
        Py_XDECREF(base);
        Py_XDECREF(requested);
        return NULL;
    }
    FIELD(slab, self->slab.cache) = Py_NewRef(cache);
    FIELD(slab, self->slab.pfn) = Py_NewRef(pfn);
    FIELD(slab, self->slab.order) = Py_NewRef(order);
    FIELD(slab, self->slab.objects) = Py_NewRef(objects);
    FIELD(slab, self->slab.freelist) = Py_NewRef(freelist);
    FIELD(slab, self->slab.base) = base;
    FIELD(slab, self->slab.frozen) = Py_NewRef(Py_False);
    FIELD(slab, self->slab.disabled) = Py_NewRef(Py_False);
    FIELD(slab, self->slab.requested) = requested;
    return slab;
}

/* SlabAPI._new_slab() (allocate_slab(), mm/slub.c L1929) of a cache without a constructor,
 * under a mask without GFP_SLAB_BUG_MASK bits: the new slab (a new reference), Py_None if no
 * pages were found at either order, NULL on an error. */
static PyObject *
new_slab(SlabFastPath *self, PyObject *cache, long long gfp, int *called)
{
    const long long *bit = self->bits;
    long long cache_flags = int_field(cache, self->cache.flags);
    long long flags = gfp & bit[B_NEW_SLAB_KEPT];   /* new_slab(), then s->allocflags */
    if (cache_flags & bit[B_CACHE_DMA])
        flags |= bit[B_DMA];
    if (cache_flags & bit[B_CACHE_DMA32])
        flags |= bit[B_DMA32];
    if (cache_flags & bit[B_RECLAIM_ACCOUNT])
        flags |= bit[B_RECLAIMABLE];
    long long order = int_field(cache, self->cache.order);
    long long objects = int_field(cache, self->cache.objects);
    long long min_order = int_field(cache, self->cache.min_order);
    if (PyErr_Occurred())
        return NULL;
    if (order < 0 || order > KMALLOC_MAX_ORDER || min_order < 0 || min_order > KMALLOC_MAX_ORDER) {
        PyErr_SetString(PyExc_ValueError, "a cache's slab order is 0..10");
        return NULL;
    }
    if (order)         /* s->allocflags: __GFP_COMP in both tries, even an order-0 one */
        flags |= bit[B_COMP];
    /* the preferred order: no warning, no retries, and above the minimum order no reclaim */
    long long first = (flags | bit[B_NOWARN] | bit[B_NORETRY]) & ~bit[B_NOFAIL];
    if (first & bit[B_DIRECT_RECLAIM] && order > min_order)
        first = (first | bit[B_NOMEMALLOC]) & ~bit[B_RECLAIM];
    PyObject *caller = self->names[0];
    int64_t pfn = slab_pages(self, first, (int)order, caller, called);
    if (pfn == -1) {   /* then the minimum order with the caller's own flags */
        order = min_order;
        objects = int_field(cache, self->cache.min_objects);
        if (objects == -1 && PyErr_Occurred())
            return NULL;
        pfn = slab_pages(self, flags, (int)order, caller, called);
    }
    if (pfn == -2)
        return NULL;
    if (pfn == -1)
        return Py_NewRef(Py_None);
    int8_t code = self->pages->state[pfn];
    if (code < 0 || self->slab_code[code] == 0) {
        PyErr_Format(PyExc_ValueError, "new_slab(): pfn %lld is no allocated head", (long long)pfn);
        return NULL;
    }
    /* Slab(cache, pfn, order, objects, list(range(objects - 1, -1, -1))) */
    PyObject *freelist = PyList_New(objects);
    PyObject *number = PyLong_FromLongLong(pfn), *size = PyLong_FromLongLong(order);
    PyObject *count = PyLong_FromLongLong(objects), *slab = NULL;
    if (freelist == NULL || number == NULL || size == NULL || count == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < objects; i++) {
        PyObject *slot = PyLong_FromSsize_t(objects - 1 - i);
        if (slot == NULL)
            goto done;
        PyList_SET_ITEM(freelist, i, slot);
    }
    slab = make_slab(self, cache, number, size, count, freelist, pfn);
    if (slab == NULL)
        goto done;
    for (int64_t page = pfn; page < pfn + ((int64_t)1 << order); page++) {
        PyObject *key = PyLong_FromLongLong(page);
        int failed = key == NULL || PyDict_SetItem(self->slab_by_pfn, key, slab) < 0;
        Py_XDECREF(key);
        if (failed)
            goto fail;
    }
    self->pages->state[pfn] = (int8_t)self->slab_code[code];   /* set_owner(pfn, OWNER_SLAB) */
    if (PySet_Add(FIELD(cache, self->cache.slabs), slab) < 0)
        goto fail;
    PyObject *fields[4] = {FIELD(cache, self->cache.name), number, size, count};
    if (append_object(self, make_event(self->created_type, &self->created_layout, fields, 4)) < 0)
        goto fail;
    goto done;
fail:
    Py_CLEAR(slab);
done:
    Py_XDECREF(freelist);
    Py_XDECREF(number);
    Py_XDECREF(size);
    Py_XDECREF(count);
    return slab;
}

/* SlabAPI._refill_cpu_slab() when neither partial list has a slab, for a mask within
 * __GFP_BITS_MASK (its own gfp_t()): the full active slab leaves (on no list) and a new slab
 * becomes the active one.  1 with the new slab in *made (borrowed), 2 if there were no pages
 * (the cache has no active slab; slab_out_of_memory() had its say), 0 if the Python method
 * must serve the call (nothing changed: a constructor to run, a mask to fix, a table of slab
 * records without room for the call's two entries), -1 on an error. */
static int
refill_new_slab(SlabFastPath *self, PyObject *cache, PyObject *gfp, PyObject **made,
                int *called)
{
    long long mask = PyLong_AsLongLong(gfp);
    if (self->pages == NULL || FIELD(cache, self->cache.ctor) != Py_None
        || mask & self->bits[B_SLAB_BUG_MASK]
        || PyList_GET_SIZE(self->slab_descs) + 2 > descs_max(self))
        return PyErr_Occurred() ? -1 : 0;
    PyObject *old = FIELD(cache, self->cache.cpu_slab);
    if (old != Py_None) {
        set_field(old, self->slab.frozen, Py_False);
        set_field(cache, self->cache.cpu_slab, Py_None);
    }
    PyObject *slab = new_slab(self, cache, mask, called);
    if (slab == NULL)
        return -1;
    if (slab == Py_None) {
        Py_DECREF(slab);
        PyObject *said = PyObject_CallFunctionObjArgs(self->out_of_memory, cache, gfp, NULL);
        Py_XDECREF(said);
        return said == NULL ? -1 : 2;
    }
    set_field(slab, self->slab.frozen, Py_True);
    Py_SETREF(FIELD(cache, self->cache.cpu_slab), slab);   /* the reference moves to the cache */
    *made = slab;
    return 1;
}

/* The end of a call whose pages came from Python code: SlabAPI._notify() (kswapd, if woken;
 * no observer listens call by call here).  ``result`` passes through; NULL on an error. */
static PyObject *
end_call(SlabFastPath *self, PyObject *result, int called)
{
    if (result == NULL || !called)
        return result;
    PyObject *done = PyObject_CallNoArgs(self->notify_end);
    if (done == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    Py_DECREF(done);
    return result;
}

/* SlabAPI._kmalloc_large() (__kmalloc_large_node()) of ``size`` bytes, 8 KiB < size <= 4 MiB,
 * under a mask within __GFP_BITS_MASK and without GFP_SLAB_BUG_MASK bits (nothing to fix):
 * get_order(size) compound pages, their address recorded
 * in kernel.large_kmalloc and a compact kmalloc_large event; 0 (NULL) without pages. */
static PyObject *
kmalloc_large(SlabFastPath *self, PyObject *size, long long bytes, PyObject *gfp)
{
    long long mask = PyLong_AsLongLong(gfp);
    int order = 0;
    while (((long long)4096 << order) < bytes)   /* get_order(): 8193 bytes -> order 2 */
        order++;
    int called = 0;
    int64_t pfn = slab_pages(self, mask | self->bits[B_COMP], order, self->names[1], &called);
    if (pfn == -2)
        return NULL;
    if (pfn == -1)
        return end_call(self, PyLong_FromLong(0), called);
    PyObject *addr = PyLong_FromUnsignedLongLong(PAGE_OFFSET + ((uint64_t)pfn << PAGE_SHIFT));
    if (addr == NULL)
        return NULL;
    PyObject *held = Py_BuildValue("(LiO)", (long long)pfn, order, size);
    if (held == NULL || PyDict_SetItem(self->large_kmalloc, addr, held) < 0
        || append_object(self, Py_BuildValue("(sOOOi)", "kmalloc_large", addr, size, gfp,
                                             order)) < 0) {
        Py_XDECREF(held);
        Py_DECREF(addr);
        return NULL;
    }
    Py_DECREF(held);
    return end_call(self, addr, called);
}

/* SlabAPI.kfree() of a large kmalloc at ``ptr`` (no slab's page): trace_kfree()'s event, then
 * free_large_kmalloc(): the compound block goes back as Kernel._free_the_page() gives it.
 * 1 when freed, 0 when the Python method must judge (nothing changed), -1 on an error. */
static int
kfree_large(SlabFastPath *self, PyObject *ptr)
{
    if (self->pages == NULL)
        return 0;
    PyObject *held = PyDict_GetItemWithError(self->large_kmalloc, ptr);
    if (held == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_CheckExact(held) || PyTuple_GET_SIZE(held) != 3)
        return 0;
    long long pfn = PyLong_AsLongLong(PyTuple_GET_ITEM(held, 0));
    long order = PyLong_AsLong(PyTuple_GET_ITEM(held, 1));
    if (PyErr_Occurred())
        return -1;
    FastPath *pages = self->pages;
    if (pfn < 0 || pfn >= pages->state_view.len || order < 0 || order > KMALLOC_MAX_ORDER
        || pages->state[pfn] != COMPOUND + order)
        return 0;   /* not the compound block it was: Python says what happened */
    int zone = pages->zone_by_chunk[pfn >> CHUNK_SHIFT];
    int mt = pages->pageblock_mt[pfn >> PAGEBLOCK_SHIFT];
    int pcp = pcp_allowed_order((int)order), cpu = (int)pages->cpu[0];
    if (pcp && (mt == MIGRATE_ISOLATE || free_exported(pages, zone, cpu, (int)order, mt)))
        return 0;
    PyObject *fields[4] = {self->names[2], self->exit_site, ptr, self->names[3]};
    if (append_object(self, make_event(self->freed_type, &self->freed_layout, fields, 4)) < 0)
        return -1;
    if (PyDict_DelItem(self->large_kmalloc, ptr) < 0)
        return -1;
    if (pcp)
        return free_unref_page(pages, pfn, zone, cpu, (int)order, mt) < 0 ? -1 : 1;
    return free_one_page(pages, pfn, zone, (int)order, mt, 0) < 0 ? -1 : 1;
}

/* SlabAPI._slab_alloc() of a cache without debugging, under a mask within __GFP_BITS_MASK:
 * 1 with the object's address (0 if there was no memory for a new slab) in *out, 0 if the
 * Python method must serve it (the history's table is full, a new slab is not for the C path;
 * nothing changed), -1 on an error.  ``requested`` and ``gfp`` go into the cache's requested
 * sizes and the record. */
static int
slab_alloc(SlabFastPath *self, PyObject *cache, PyObject *requested, PyObject *gfp, int op,
           PyObject **out)
{
    PyObject *slab = FIELD(cache, self->cache.cpu_slab);
    int refill = slab == Py_None || PyList_GET_SIZE(FIELD(slab, self->slab.freelist)) == 0;
    PyObject *percpu = FIELD(cache, self->cache.percpu_partial);
    int called = 0;
    if (refill && PyList_GET_SIZE(percpu) == 0
        && PyList_GET_SIZE(FIELD(cache, self->cache.partial)) == 0) {
        int made = refill_new_slab(self, cache, gfp, &slab, &called);
        if (made == 2) {   /* NULL: SLUB said it had no memory */
            *out = end_call(self, PyLong_FromLong(0), called);
            return *out == NULL ? -1 : 1;
        }
        if (made <= 0)
            return made;
        refill = 0;   /* the table had room for this call's entries: slab_desc() finds room */
    }
    long long desc = slab_desc(self, cache, requested, gfp);
    if (desc < 0)
        return desc == -1 ? 0 : -1;
    if (refill) {
        /* ___slab_alloc(): the full active slab leaves (on no list); the CPU's newest partial
           slab becomes the active one, else get_partial_node()'s */
        if (slab != Py_None)
            set_field(slab, self->slab.frozen, Py_False);
        if (PyList_GET_SIZE(percpu)) {
            slab = pop_last(percpu);
        } else {
            long long frozen = slab_desc(self, cache, NULL, NULL);   /* told already */
            slab = frozen < 0 ? NULL : get_partial_node(self, cache, frozen);
        }
        if (slab == NULL)
            return -1;
        set_field(slab, self->slab.frozen, Py_True);
        Py_SETREF(FIELD(cache, self->cache.cpu_slab), slab);
    }
    PyObject *item = pop_last(FIELD(slab, self->slab.freelist));
    long long index = PyLong_AsLongLong(item);
    Py_DECREF(item);
    unsigned long long addr = base_field(self, slab)
                              + (unsigned long long)(index * int_field(cache, self->cache.size));
    PyObject *ptr = PyLong_FromUnsignedLongLong(addr);
    if (ptr == NULL || slot_requested(self, slab, index, PyLong_AsLong(requested)) < FREE_SLOT
        || append_slab(self, op, slab, index, desc) < 0) {
        Py_XDECREF(ptr);
        return -1;
    }
    *out = end_call(self, ptr, called);
    return *out == NULL ? -1 : 1;
}

/* SlabAPI._kfree()'s end for a live object at ``addr`` of ``slab``, whose cache is not
 * debugged (``expected``: the cache kmem_cache_free() was given, else NULL): 1 when freed,
 * 0 when the Python method must judge (nothing changed), -1 on an error. */
static int
slab_free(SlabFastPath *self, PyObject *slab, PyObject *expected, unsigned long long addr)
{
    PyObject *cache = FIELD(slab, self->slab.cache);
    if ((expected != NULL && expected != cache)
        || !Py_IS_TYPE(cache, (PyTypeObject *)self->cache_type)
        || int_field(cache, self->cache.flags) & self->debug_flags)
        return 0;
    PyObject *freelist = FIELD(slab, self->slab.freelist);
    int frozen = FIELD(slab, self->slab.frozen) == Py_True;
    /* __slab_free(): a full slab on no list goes to the CPU's partial list */
    int put = PyList_GET_SIZE(freelist) == 0 && !frozen;
    long long most = int_field(cache, self->cache.cpu_partial_slabs);
    if (put && most <= 0)
        return 0;
    /* a slot's first byte whose object is live, else freed twice or inside one: Python judges */
    unsigned long long size = (unsigned long long)int_field(cache, self->cache.size);
    unsigned long long base = base_field(self, slab), offset = addr - base;
    unsigned long long slot = size ? offset / size : 0;   /* divmod(addr - base, size) */
    if (addr < base || !size || offset - slot * size
        || slot >= (unsigned long long)int_field(slab, self->slab.objects))
        return 0;
    long long index = (long long)slot;
    long long asked = slot_requested(self, slab, index, FREE_SLOT - 1);
    if (asked < FREE_SLOT)
        return -1;
    if (asked == FREE_SLOT)
        return 0;
    long long desc = slab_desc(self, cache, NULL, NULL);
    if (desc < 0)
        return desc == -1 ? 0 : -1;
    if (slot_requested(self, slab, index, FREE_SLOT) < FREE_SLOT)
        return -1;
    if (append_slab(self, expected == NULL ? OP_KFREE : OP_KMEM_CACHE_FREE, slab, index, desc) < 0)
        return -1;
    PyObject *number = PyLong_FromLongLong(index);
    int failed = number == NULL || PyList_Append(freelist, number) < 0;
    Py_XDECREF(number);
    if (failed)
        return -1;
    if (put) {
        PyObject *percpu = FIELD(cache, self->cache.percpu_partial);
        PyObject *drained = NULL;
        if (PyList_GET_SIZE(percpu) >= most) {   /* put_cpu_partial(drain=1): a full list */
            drained = percpu;
            if ((percpu = PyList_New(0)) == NULL)
                return -1;
            FIELD(cache, self->cache.percpu_partial) = percpu;   /* drained's reference */
        }
        set_field(slab, self->slab.frozen, Py_True);
        if (PyList_Append(percpu, slab) < 0 || append_slab(self, OP_SLAB_FROZEN, slab, 0, desc) < 0) {
            Py_XDECREF(drained);
            return -1;
        }
        if (drained != NULL) {
            int failed = unfreeze_partials(self, cache, drained) < 0;
            Py_DECREF(drained);
            if (failed)
                return -1;
        }
    } else if (!frozen && PyList_GET_SIZE(freelist) == int_field(slab, self->slab.objects)
               && PyList_GET_SIZE(FIELD(cache, self->cache.partial))
                  >= int_field(cache, self->cache.min_partial)) {
        PyObject *done = PyObject_CallOneArg(self->slab_emptied, slab);   /* discarded */
        if (done == NULL)
            return -1;
        Py_DECREF(done);
    }
    return 1;
}

/* The slab of the direct-map address ``ptr`` (borrowed) and the address, or NULL (with an
 * exception only on an error).  An int outside 0..2**64-1 is no object's address: the Python
 * method says so. */
static PyObject *
slab_of(SlabFastPath *self, PyObject *ptr, unsigned long long *addr)
{
    /* a positive int of at most 64 bits (PyLong_AsUnsignedLongLong() is slow for them) */
    if (!PyLong_CheckExact(ptr) || _PyLong_Sign(ptr) <= 0 || _PyLong_NumBits(ptr) > 64)
        return NULL;   /* not even an address: negative, or 2**64 and above */
    *addr = PyLong_AsUnsignedLongLongMask(ptr);
    if (*addr < PAGE_OFFSET)
        return NULL;
    PyObject *key = PyLong_FromUnsignedLongLong((*addr - PAGE_OFFSET) >> PAGE_SHIFT);
    if (key == NULL)
        return NULL;
    PyObject *slab = PyDict_GetItemWithError(self->slab_by_pfn, key);
    Py_DECREF(key);
    if (slab != NULL && !Py_IS_TYPE(slab, (PyTypeObject *)self->slab_type))
        return NULL;   /* its fields are read where a Slab keeps them: only a Slab here */
    return slab;
}

/* kmalloc(size, gfp): a request under a mask the Python method has seen: a slab object, or
 * above KMALLOC_MAX_CACHE_SIZE a large kmalloc's compound block. */
static PyObject *
SlabFastPath_kmalloc(SlabFastPath *self, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    if (kwnames != NULL || nargs != 2 || self->notify[0] || self->atomic[0]
        || !PyLong_CheckExact(args[0]))
        return PyObject_Vectorcall(self->slow_kmalloc, args, nargs, kwnames);
    long size = PyLong_AsLong(args[0]);
    PyObject *table = NULL;
    if (size < 1 || size > (1L << (KMALLOC_MAX_ORDER + PAGE_SHIFT))
        || (table = PyDict_GetItemWithError(self->tables, args[1])) == NULL) {
        PyErr_Clear();   /* an unhashable mask: the Python method says what is wrong */
        return PyObject_Vectorcall(self->slow_kmalloc, args, nargs, NULL);
    }
    /* a mask of the tables went through gfp_t(); beyond __GFP_BITS_MASK it is not its own,
     * nor is a bool (True finds GFP_DMA's table: the Python method refuses it) */
    long long mask = PyLong_AsLongLong(args[1]);
    int own = PyLong_CheckExact(args[1]) && !PyErr_Occurred() && mask >= 0
              && !(mask & ~self->gfp_mask);
    PyErr_Clear();
    if (size > KMALLOC_MAX_CACHE_SIZE) {   /* a mask to fix (kmalloc_fix_flags()): Python */
        if (own && self->pages != NULL && !(mask & self->bits[B_SLAB_BUG_MASK]))
            return kmalloc_large(self, args[0], size, args[1]);
        return PyObject_Vectorcall(self->slow_kmalloc, args, nargs, NULL);
    }
    PyObject *ptr, *cache = PyList_GET_ITEM(table, size);
    int done = own && Py_IS_TYPE(cache, (PyTypeObject *)self->cache_type)
               ? slab_alloc(self, cache, args[0], args[1], OP_KMALLOC, &ptr) : 0;
    if (done == 0)
        return PyObject_Vectorcall(self->slow_kmalloc, args, nargs, NULL);
    return done < 0 ? NULL : ptr;
}

/* kfree(addr): a live object of a slab, or a large kmalloc's block. */
static PyObject *
SlabFastPath_kfree(SlabFastPath *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    if (kwnames != NULL || nargs != 1 || self->notify[0])
        return PyObject_Vectorcall(self->slow_kfree, args, nargs, kwnames);
    unsigned long long addr;
    PyObject *slab = slab_of(self, args[0], &addr);
    int done = slab != NULL ? slab_free(self, slab, NULL, addr)
               : PyErr_Occurred() ? -1 : PyLong_CheckExact(args[0]) ? kfree_large(self, args[0]) : 0;
    if (done == 0)
        return PyObject_Vectorcall(self->slow_kfree, args, nargs, NULL);
    return done < 0 ? NULL : Py_NewRef(Py_None);
}

/* A cache kmem_cache_alloc() / kmem_cache_free() may take here: a live KmemCache without
 * SLUB's debugging. */
static int
plain_cache(SlabFastPath *self, PyObject *cache)
{
    return Py_IS_TYPE(cache, (PyTypeObject *)self->cache_type)
           && int_field(cache, self->cache.refcount) != 0
           && !(int_field(cache, self->cache.flags) & self->debug_flags);
}

/* kmem_cache_alloc(cache, gfp): a mask that is its own gfp_t(). */
static PyObject *
SlabFastPath_kmem_cache_alloc(SlabFastPath *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    if (kwnames != NULL || nargs != 2 || self->notify[0] || self->atomic[0]
        || !PyLong_CheckExact(args[1]) || !plain_cache(self, args[0]))
        return PyObject_Vectorcall(self->slow_kmem_cache_alloc, args, nargs, kwnames);
    long long gfp = PyLong_AsLongLong(args[1]);
    PyObject *ptr;
    int done = 0;
    if (gfp >= 0 && !(gfp & ~self->gfp_mask))
        done = slab_alloc(self, args[0], FIELD(args[0], self->cache.object_size), args[1],
                          OP_KMEM_CACHE_ALLOC, &ptr);
    if (done == 0) {
        PyErr_Clear();
        return PyObject_Vectorcall(self->slow_kmem_cache_alloc, args, nargs, NULL);
    }
    return done < 0 ? NULL : ptr;
}

/* kmem_cache_free(cache, addr): a live object of that cache. */
static PyObject *
SlabFastPath_kmem_cache_free(SlabFastPath *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    if (kwnames != NULL || nargs != 2 || self->notify[0] || !plain_cache(self, args[0]))
        return PyObject_Vectorcall(self->slow_kmem_cache_free, args, nargs, kwnames);
    unsigned long long addr;
    PyObject *slab = slab_of(self, args[1], &addr);
    int done = slab == NULL ? (PyErr_Occurred() ? -1 : 0)
                            : slab_free(self, slab, args[0], addr);
    if (done == 0)
        return PyObject_Vectorcall(self->slow_kmem_cache_free, args, nargs, NULL);
    return done < 0 ? NULL : Py_NewRef(Py_None);
}

/* Whether Slab's __slots__ are the fields make_slab() sets, in their order: a Slab with
 * others is made by calling its class.  0 with no exception if not, also on an error. */
static int
slab_fields_known(PyObject *slab_type)
{
    PyObject *slots = PyObject_GetAttrString(slab_type, "__slots__");
    PyObject *known = Py_BuildValue("(sssssssss)", "cache", "pfn", "order", "objects", "freelist",
                                    "base", "frozen", "disabled", "requested");
    int same = slots != NULL && known != NULL
               && PyObject_RichCompareBool(slots, known, Py_EQ) == 1;
    Py_XDECREF(slots);
    Py_XDECREF(known);
    PyErr_Clear();
    return same;
}

static PyObject *
SlabFastPath_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {
        "tables", "slab_by_pfn", "notify", "atomic", "records", "scratch", "desc_index",
        "slab_descs", "slab_emptied", "discard_slab", "objects", "unfrozen_type", "slab_type",
        "cache_type", "debug_flags", "gfp_mask", "slow_kmalloc", "slow_kfree",
        "slow_kmem_cache_alloc", "slow_kmem_cache_free", "pages", "page_plans", "slab_pages",
        "slab_pages_slow", "notify_end", "out_of_memory", "large_kmalloc", "created_type",
        "freed_type", "exit_site", "slab_bits", "descs_limit", "slab_codes", NULL};
    PyObject *tables, *slabs, *notify, *atomic, *records, *scratch, *desc, *descs, *emptied;
    PyObject *discard, *objects, *unfrozen_type;
    PyObject *slab_type, *cache_type, *kmalloc, *kfree, *cache_alloc, *cache_free;
    PyObject *pages, *page_plans, *slab_pages, *slab_pages_slow, *notify_end, *out_of_memory;
    PyObject *large, *created_type, *freed_type, *exit_site, *bits, *codes;
    PyObject *descs_limit;
    long long debug_flags, gfp_mask;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "O!O!OOOOO!O!OOO!O!O!O!LLOOOOOO!OOOOO!O!O!UO!OO!:SlabFastPath", keywords,
            &PyDict_Type, &tables, &PyDict_Type, &slabs, &notify, &atomic, &records, &scratch,
            &PyDict_Type, &desc, &PyList_Type, &descs, &emptied, &discard, &PyList_Type, &objects, &PyType_Type,
            &unfrozen_type, &PyType_Type, &slab_type, &PyType_Type, &cache_type, &debug_flags,
            &gfp_mask, &kmalloc, &kfree, &cache_alloc, &cache_free, &pages, &PyDict_Type,
            &page_plans, &slab_pages, &slab_pages_slow, &notify_end, &out_of_memory, &PyDict_Type,
            &large, &PyType_Type, &created_type, &PyType_Type, &freed_type, &exit_site,
            &PyTuple_Type, &bits, &descs_limit, &PyBytes_Type, &codes))
        return NULL;
    if (pages != Py_None && !Py_IS_TYPE(pages, &FastPathType)) {
        PyErr_SetString(PyExc_TypeError, "SlabFastPath(pages=...) is a FastPath or None");
        return NULL;
    }
    if (PyTuple_GET_SIZE(bits) != NR_SLAB_BITS || PyBytes_GET_SIZE(codes) != 128) {
        PyErr_SetString(PyExc_ValueError, "SlabFastPath(): 15 slab_bits, 128 slab_codes");
        return NULL;
    }
    SlabFastPath *self = (SlabFastPath *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    for (int i = 0; i < NR_SLAB_BITS; i++)
        self->bits[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(bits, i));
    if (PyErr_Occurred()) {
        Py_DECREF(self);
        return NULL;
    }
    memcpy(self->slab_code, PyBytes_AS_STRING(codes), 128);
    self->descs_limit = Py_NewRef(descs_limit);
    const char *names[4] = {"allocate_slab", "kmalloc_large", "kfree", ""};
    for (int i = 0; i < 4; i++)
        if ((self->names[i] = PyUnicode_InternFromString(names[i])) == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    self->pages = pages == Py_None ? NULL : (FastPath *)Py_NewRef(pages);
    self->page_plans = Py_NewRef(page_plans);
    self->slab_pages = Py_NewRef(slab_pages);
    self->slab_pages_slow = Py_NewRef(slab_pages_slow);
    self->notify_end = Py_NewRef(notify_end);
    self->out_of_memory = Py_NewRef(out_of_memory);
    self->large_kmalloc = Py_NewRef(large);
    self->created_type = Py_NewRef(created_type);
    self->freed_type = Py_NewRef(freed_type);
    self->exit_site = Py_NewRef(exit_site);
    struct { PyObject *type; const char *name; Py_ssize_t *offset; } fields[] = {
        {slab_type, "cache", &self->slab.cache}, {slab_type, "pfn", &self->slab.pfn},
        {slab_type, "objects", &self->slab.objects},
        {slab_type, "freelist", &self->slab.freelist}, {slab_type, "base", &self->slab.base},
        {slab_type, "frozen", &self->slab.frozen},
        {cache_type, "name", &self->cache.name}, {cache_type, "size", &self->cache.size},
        {cache_type, "object_size", &self->cache.object_size},
        {cache_type, "flags", &self->cache.flags}, {cache_type, "refcount", &self->cache.refcount},
        {cache_type, "min_partial", &self->cache.min_partial},
        {cache_type, "cpu_partial_slabs", &self->cache.cpu_partial_slabs},
        {cache_type, "cpu_slab", &self->cache.cpu_slab},
        {cache_type, "percpu_partial", &self->cache.percpu_partial},
        {cache_type, "partial", &self->cache.partial},
        {slab_type, "requested", &self->slab.requested},
        {cache_type, "order", &self->cache.order}, {cache_type, "objects", &self->cache.objects},
        {cache_type, "min_order", &self->cache.min_order},
        {cache_type, "min_objects", &self->cache.min_objects},
        {cache_type, "ctor", &self->cache.ctor}, {cache_type, "slabs", &self->cache.slabs},
        {cache_type, "red_left_pad", &self->cache.red_left_pad},
        {slab_type, "order", &self->slab.order}, {slab_type, "disabled", &self->slab.disabled},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (field_offset(fields[i].type, fields[i].name, fields[i].offset) < 0) {
            Py_DECREF(self);
            return NULL;
        }
    if (get_view(atomic, &self->atomic_view, 1, "atomic") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->atomic = self->atomic_view.buf;
    if (get_view(notify, &self->notify_view, 1, "notify") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->notify = self->notify_view.buf;
    if (get_view(scratch, &self->scratch_view, 8, "scratch") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->scratch = Py_NewRef(scratch);
    self->debug_flags = debug_flags;
    self->gfp_mask = gfp_mask;
    self->tables = Py_NewRef(tables);
    self->slab_by_pfn = Py_NewRef(slabs);
    self->records = Py_NewRef(records);
    self->records_direct = records_layout_ok(records);
    if (self->records_direct && slab_fields_known(slab_type)) {
        /* array('i', [FREE_SLOT]), the records' type: laid out as they are */
        self->free_slots = PyObject_CallFunction((PyObject *)Py_TYPE(records), "s[i]", "i",
                                                 FREE_SLOT);
        if (self->free_slots == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    if (PyErr_Occurred()) {
        Py_DECREF(self);
        return NULL;
    }
    if ((self->descs = PyMem_Calloc(DESC_SLOTS, sizeof(DescSlot))) == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->desc_index = Py_NewRef(desc);
    self->slab_descs = Py_NewRef(descs);
    self->slab_emptied = Py_NewRef(emptied);
    self->discard_slab = Py_NewRef(discard);
    self->objects = Py_NewRef(objects);
    self->unfrozen_type = Py_NewRef(unfrozen_type);
    event_layout(unfrozen_type, 2, &self->unfrozen_layout);
    event_layout(created_type, 4, &self->created_layout);
    event_layout(freed_type, 4, &self->freed_layout);
    self->slab_type = Py_NewRef(slab_type);
    self->cache_type = Py_NewRef(cache_type);
    self->slow_kmalloc = Py_NewRef(kmalloc);
    self->slow_kfree = Py_NewRef(kfree);
    self->slow_kmem_cache_alloc = Py_NewRef(cache_alloc);
    self->slow_kmem_cache_free = Py_NewRef(cache_free);
    return (PyObject *)self;
}

static int
SlabFastPath_traverse(SlabFastPath *self, visitproc visit, void *arg)
{
    Py_VISIT(self->tables);
    Py_VISIT(self->slab_by_pfn);
    Py_VISIT(self->records);
    Py_VISIT(self->scratch);
    Py_VISIT(self->desc_index);
    Py_VISIT(self->slab_descs);
    Py_VISIT(self->slab_emptied);
    Py_VISIT(self->discard_slab);
    Py_VISIT(self->objects);
    Py_VISIT(self->unfrozen_type);
    Py_VISIT(self->slab_type);
    Py_VISIT(self->cache_type);
    Py_VISIT(self->slow_kmalloc);
    Py_VISIT(self->slow_kfree);
    Py_VISIT(self->slow_kmem_cache_alloc);
    Py_VISIT(self->slow_kmem_cache_free);
    Py_VISIT((PyObject *)self->pages);
    Py_VISIT(self->page_plans);
    Py_VISIT(self->last_page_plan.gfp);
    Py_VISIT(self->last_page_plan.plan);
    Py_VISIT(self->slab_pages);
    Py_VISIT(self->slab_pages_slow);
    Py_VISIT(self->notify_end);
    Py_VISIT(self->out_of_memory);
    Py_VISIT(self->large_kmalloc);
    Py_VISIT(self->created_type);
    Py_VISIT(self->freed_type);
    Py_VISIT(self->exit_site);
    Py_VISIT(self->free_slots);
    Py_VISIT(self->descs_limit);
    return 0;
}

static int
SlabFastPath_clear(SlabFastPath *self)
{
    Py_CLEAR(self->tables);
    Py_CLEAR(self->slab_by_pfn);
    Py_CLEAR(self->records);
    Py_CLEAR(self->desc_index);
    Py_CLEAR(self->slab_descs);
    Py_CLEAR(self->slab_emptied);
    Py_CLEAR(self->discard_slab);
    Py_CLEAR(self->objects);
    Py_CLEAR(self->unfrozen_type);
    Py_CLEAR(self->slab_type);
    Py_CLEAR(self->cache_type);
    Py_CLEAR(self->slow_kmalloc);
    Py_CLEAR(self->slow_kfree);
    Py_CLEAR(self->slow_kmem_cache_alloc);
    Py_CLEAR(self->slow_kmem_cache_free);
    Py_CLEAR(self->pages);
    Py_CLEAR(self->page_plans);
    Py_CLEAR(self->last_page_plan.gfp);
    Py_CLEAR(self->last_page_plan.plan);
    Py_CLEAR(self->slab_pages);
    Py_CLEAR(self->slab_pages_slow);
    Py_CLEAR(self->notify_end);
    Py_CLEAR(self->out_of_memory);
    Py_CLEAR(self->large_kmalloc);
    Py_CLEAR(self->created_type);
    Py_CLEAR(self->freed_type);
    Py_CLEAR(self->exit_site);
    for (int i = 0; i < 4; i++)
        Py_CLEAR(self->names[i]);
    Py_CLEAR(self->free_slots);
    Py_CLEAR(self->descs_limit);
    return 0;
}

static void
SlabFastPath_dealloc(SlabFastPath *self)
{
    PyObject_GC_UnTrack(self);
    SlabFastPath_clear(self);
    PyMem_Free(self->descs);
    if (self->atomic != NULL)
        PyBuffer_Release(&self->atomic_view);
    if (self->notify != NULL)
        PyBuffer_Release(&self->notify_view);
    if (self->scratch != NULL) {
        PyBuffer_Release(&self->scratch_view);
        Py_CLEAR(self->scratch);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef SlabFastPath_methods[] = {
    {"kmalloc", (PyCFunction)(void (*)(void))SlabFastPath_kmalloc, METH_FASTCALL | METH_KEYWORDS,
     "kmalloc(size, gfp)\n--\n\nsize bytes from the matching kmalloc cache."},
    {"kfree", (PyCFunction)(void (*)(void))SlabFastPath_kfree, METH_FASTCALL | METH_KEYWORDS,
     "kfree(addr)\n--\n\nFree a kmalloc'ed object."},
    {"kmem_cache_alloc", (PyCFunction)(void (*)(void))SlabFastPath_kmem_cache_alloc,
     METH_FASTCALL | METH_KEYWORDS,
     "kmem_cache_alloc(cache, gfp)\n--\n\nAn object's address from cache, or 0 (NULL)."},
    {"kmem_cache_free", (PyCFunction)(void (*)(void))SlabFastPath_kmem_cache_free,
     METH_FASTCALL | METH_KEYWORDS,
     "kmem_cache_free(cache, addr)\n--\n\nGive object addr back to cache."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SlabFastPathType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmviz.engine._fastpath.SlabFastPath",
    .tp_doc = "The slab allocator's hot calls over a Kernel's caches and slabs.",
    .tp_basicsize = sizeof(SlabFastPath),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = SlabFastPath_new,
    .tp_dealloc = (destructor)SlabFastPath_dealloc,
    .tp_traverse = (traverseproc)SlabFastPath_traverse,
    .tp_clear = (inquiry)SlabFastPath_clear,
    .tp_methods = SlabFastPath_methods,
};

/* ---------------------------------------------------------------------------------------
 * vmalloc()'s and vfree()'s page-table writes within one PTE table: PageTables.map_checked()
 * and clear_range() in kmviz/engine/pagetable.py, on the same {index: entry} dict.
 * ------------------------------------------------------------------------------------- */

#define PTRS_PER_PTE 512

static PyObject *pte_slots[PTRS_PER_PTE];   /* the slot numbers 0..511 as ints, made once */

PyDoc_STRVAR(pte_fill_doc,
"pte_fill(table, first, pfns, prot)\n--\n\n"
"Write pfn << 12 | prot into PTE slots first, first + 1, ... of table (a PTE table's\n"
"{index: entry}); False, with nothing written, if one of those slots holds an entry.");

static PyObject *
pte_fill(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_CheckExact(args[0]) || !PyList_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "pte_fill(table: dict, first, pfns: list, prot)");
        return NULL;
    }
    PyObject *table = args[0], *pfns = args[2];
    Py_ssize_t first = PyLong_AsSsize_t(args[1]);
    unsigned long long prot = PyLong_AsUnsignedLongLong(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(pfns);
    if (first < 0 || first + count > PTRS_PER_PTE) {
        PyErr_SetString(PyExc_ValueError, "pte_fill(): the slots leave the PTE table");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {    /* vmap_pages_pte_range(): pte_none() each */
        int present = PyDict_Contains(table, pte_slots[first + i]);
        if (present < 0)
            return NULL;
        if (present)
            Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        unsigned long long pfn = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(pfns, i));
        if (pfn == (unsigned long long)-1 && PyErr_Occurred())
            return NULL;
        PyObject *entry = PyLong_FromUnsignedLongLong((pfn << PAGE_SHIFT) | prot);
        int failed = entry == NULL || PyDict_SetItem(table, pte_slots[first + i], entry) < 0;
        Py_XDECREF(entry);
        if (failed)
            return NULL;
    }
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(pte_clear_doc,
"pte_clear(table, first, count)\n--\n\n"
"Remove PTE slots first .. first + count - 1 from table; how many held an entry.");

static PyObject *
pte_clear(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "pte_clear(table: dict, first, count)");
        return NULL;
    }
    PyObject *table = args[0];
    Py_ssize_t first = PyLong_AsSsize_t(args[1]), count = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (first < 0 || count < 0 || first + count > PTRS_PER_PTE) {
        PyErr_SetString(PyExc_ValueError, "pte_clear(): the slots leave the PTE table");
        return NULL;
    }
    Py_ssize_t cleared = 0;
    for (Py_ssize_t i = 0; i < count; i++) {    /* vunmap_pte_range(): ptep_get_and_clear() */
        if (PyDict_DelItem(table, pte_slots[first + i]) == 0)
            cleared++;
        else if (PyErr_ExceptionMatches(PyExc_KeyError))
            PyErr_Clear();                      /* pte_none(): nothing to clear */
        else
            return NULL;
    }
    return PyLong_FromSsize_t(cleared);
}

/* ---------------------------------------------------------------------------------------
 * vmalloc()'s free-space search: VmapRanges.alloc() in kmviz/engine/vmap_tree.py on the same
 * VmapRange nodes (their __slots__ read and written in place): _find()'s descent and climb
 * back, the vend check, then take()'s LE_FIT_TYPE and RE_FIT_TYPE cuts with the maxima
 * refreshed up the path as _refresh() does.  The other cuts go back to Python's take().
 * ------------------------------------------------------------------------------------- */

typedef unsigned __int128 u128;             /* sums of 64-bit addresses, exact as Python's */

static PyTypeObject *vmap_type;             /* VmapRange, once vmap_fit() has seen it */
static Py_ssize_t vmap_start, vmap_end, vmap_left, vmap_right, vmap_max;

/* Where VmapRange keeps its slots; -1 with an error if ``type`` has not got them. */
static int
vmap_offsets(PyTypeObject *type)
{
    if (type == vmap_type)
        return 0;
    Py_ssize_t start = slot_offset(type, "start"), end = slot_offset(type, "end");
    Py_ssize_t left = slot_offset(type, "left"), right = slot_offset(type, "right");
    Py_ssize_t max = slot_offset(type, "subtree_max_size");
    if (start < 0 || end < 0 || left < 0 || right < 0 || max < 0)
        return -1;
    Py_XSETREF(vmap_type, (PyTypeObject *)Py_NewRef(type));
    vmap_start = start, vmap_end = end, vmap_left = left, vmap_right = right, vmap_max = max;
    return 0;
}

/* An int in [0, 2**64) as a number; 0 if ``value`` is not one (then vmap_fit() gives up). */
static int
u64_value(PyObject *value, u128 *out)
{
    if (value == NULL || !PyLong_CheckExact(value) || _PyLong_Sign(value) < 0
        || _PyLong_NumBits(value) > 64)
        return 0;
    *out = PyLong_AsUnsignedLongLongMask(value);
    return 1;
}

/* A node's int slot; 0 if it does not hold an int in [0, 2**64). */
#define NODE_INT(node, offset, out) u64_value(FIELD(node, offset), out)

/* A node's child: NULL for None, the node, or ``bad`` if the slot holds no VmapRange. */
static PyObject *
vmap_child(PyObject *node, Py_ssize_t offset, PyObject *bad)
{
    PyObject *child = FIELD(node, offset);
    if (child == Py_None)
        return NULL;
    return child != NULL && Py_IS_TYPE(child, vmap_type) ? child : bad;
}

typedef struct {                            /* _find()'s path: a growing stack of nodes */
    PyObject **nodes;                       /* the ancestors, root first (borrowed) */
    Py_ssize_t len, size;                   /* nodes on it, room for */
} VmapPath;

/* path.append(node): 0, or -1 with MemoryError. */
static int
vmap_push(VmapPath *path, PyObject *node)
{
    if (path->len == path->size) {
        Py_ssize_t size = path->size ? 2 * path->size : 64;
        PyObject **nodes = PyMem_Realloc(path->nodes, size * sizeof(PyObject *));
        if (nodes == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        path->nodes = nodes, path->size = size;
    }
    path->nodes[path->len++] = node;
    return 0;
}

/* _refresh(): the maxima from the path's end up, until one is unchanged; 0 if a slot was
 * not what it should be. */
static int
vmap_refresh(VmapPath *path)
{
    for (Py_ssize_t i = path->len - 1; i >= 0; i--) {
        PyObject *node = path->nodes[i], *bad = Py_None;
        u128 start, end, max, child_max;
        if (!NODE_INT(node, vmap_start, &start) || !NODE_INT(node, vmap_end, &end)
            || !NODE_INT(node, vmap_max, &max))
            return 0;
        u128 best = end - start;
        PyObject *children[2] = {vmap_child(node, vmap_left, bad),
                                 vmap_child(node, vmap_right, bad)};
        for (int c = 0; c < 2; c++) {
            if (children[c] == bad || (children[c] != NULL
                                       && !NODE_INT(children[c], vmap_max, &child_max)))
                return 0;
            if (children[c] != NULL && child_max > best)
                best = child_max;
        }
        if (max == best)
            return 1;
        PyObject *value = PyLong_FromUnsignedLongLong((unsigned long long)best);
        if (value == NULL)
            return -1;
        Py_SETREF(FIELD(node, vmap_max), value);
    }
    return 1;
}

PyDoc_STRVAR(vmap_fit_doc,
"vmap_fit(root, size, align, vstart, vend)\n--\n\n"
"VmapRanges.alloc() on the tree under root: None if nothing fits; the start if the range\n"
"found was cut here (LE_FIT_TYPE or RE_FIT_TYPE: the caller takes size off its total);\n"
"(node, start, path) for take() otherwise; NotImplemented for values beyond 64 bits.");

static PyObject *
vmap_fit(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "vmap_fit(root, size, align, vstart, vend)");
        return NULL;
    }
    PyObject *root = args[0], *bad = Py_None, *result = NULL;
    u128 size, align, vstart, vend;
    if (!u64_value(args[1], &size) || !u64_value(args[2], &align) || !u64_value(args[3], &vstart)
        || !u64_value(args[4], &vend) || align == 0 || (align & (align - 1)))
        Py_RETURN_NOTIMPLEMENTED;           /* -align is a mask only for a power of two */
    if (root == Py_None)
        Py_RETURN_NONE;
    if (vmap_offsets(Py_TYPE(root)) < 0)
        return NULL;
    u128 length = align > 4096 ? size + align - 1 : size, start, end, found_start = 0;
    u128 value;
    VmapPath path = {NULL, 0, 0};
    PyObject *node = root, *found = NULL;
#define INT_OR_GIVE_UP(obj, offset, out) if (!NODE_INT(obj, offset, out)) goto give_up
#define CHILD_OR_GIVE_UP(var, obj, offset) \
    if ((var = vmap_child(obj, offset, bad)) == bad) goto give_up
#define ALIGNED(first) ((((first) > vstart ? (first) : vstart) + align - 1) & ~(align - 1))
    while (node != NULL && found == NULL) {
        PyObject *left, *right;
        INT_OR_GIVE_UP(node, vmap_start, &start);
        INT_OR_GIVE_UP(node, vmap_end, &end);
        CHILD_OR_GIVE_UP(left, node, vmap_left);
        if (left != NULL) {
            INT_OR_GIVE_UP(left, vmap_max, &value);
            if (value >= length && vstart < start) {
                if (vmap_push(&path, node) < 0)
                    goto done;
                node = left;
                continue;
            }
        }
        u128 at = ALIGNED(start);          /* is_within_this_va() */
        if (at >= vstart && at + size <= end) {
            found = node, found_start = at;
            break;
        }
        CHILD_OR_GIVE_UP(right, node, vmap_right);
        if (right != NULL) {
            INT_OR_GIVE_UP(right, vmap_max, &value);
            if (value >= length) {
                if (vmap_push(&path, node) < 0)
                    goto done;
                node = right;
                continue;
            }
        }
        PyObject *child = node;             /* climb back */
        node = NULL;
        while (path.len > 0) {
            PyObject *parent = path.nodes[--path.len];
            CHILD_OR_GIVE_UP(right, parent, vmap_right);
            if (right == child) {
                child = parent;
                continue;
            }
            INT_OR_GIVE_UP(parent, vmap_start, &start);
            INT_OR_GIVE_UP(parent, vmap_end, &end);
            at = ALIGNED(start);
            if (at >= vstart && at + size <= end) {
                found = parent, found_start = at;
                break;
            }
            if (right != NULL) {
                INT_OR_GIVE_UP(right, vmap_max, &value);
                if (value >= length && vstart <= start) {
                    vstart = start + 1;     /* its left subtree and itself are checked */
                    if (vmap_push(&path, parent) < 0)
                        goto done;
                    node = right;
                    break;
                }
            }
            child = parent;
        }
    }
    if (found == NULL || found_start + size > vend) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    INT_OR_GIVE_UP(found, vmap_start, &start);
    INT_OR_GIVE_UP(found, vmap_end, &end);
    u128 cut_end = found_start + size;
    if ((found_start == start) != (cut_end == end)) {   /* LE_FIT_TYPE or RE_FIT_TYPE */
        PyObject *moved = PyLong_FromUnsignedLongLong(
            (unsigned long long)(found_start == start ? cut_end : found_start));
        if (moved == NULL)
            goto done;
        Py_SETREF(FIELD(found, found_start == start ? vmap_start : vmap_end), moved);
        if (vmap_push(&path, found) < 0)
            goto done;
        int refreshed = vmap_refresh(&path);
        if (refreshed < 0)
            goto done;
        if (refreshed == 0) {               /* cannot happen with a VmapRanges tree */
            PyErr_SetString(PyExc_RuntimeError, "vmap_fit(): a node's slots are not ints");
            goto done;
        }
        result = PyLong_FromUnsignedLongLong((unsigned long long)found_start);
        goto done;
    }
    PyObject *ancestors = PyList_New(path.len);     /* FL_FIT_TYPE, NE_FIT_TYPE: take() */
    if (ancestors == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < path.len; i++)
        PyList_SET_ITEM(ancestors, i, Py_NewRef(path.nodes[i]));
    result = Py_BuildValue("(OKN)", found, (unsigned long long)found_start, ancestors);
    goto done;
give_up:
    result = Py_NewRef(Py_NotImplemented);
done:
#undef INT_OR_GIVE_UP
#undef CHILD_OR_GIVE_UP
#undef ALIGNED
    PyMem_Free(path.nodes);
    return result;
}

/* A buffer of ``what`` of 8-byte items, read only; -1 with an exception if it is not one. */
static int
get_items(PyObject *obj, Py_buffer *view, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 8) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s: expected items of 8 bytes", what);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(paint_blocks_doc,
"paint_blocks(target, level, block, values)\n--\n\n"
"Write i gives frames block[i] << level[i] .. ((block[i] + 1) << level[i]) - 1 of target (a\n"
"byte per frame) the value values[i], in order: a later write wins where writes meet, as\n"
"the Timeline's handlers paint one event after another (kmviz/widgets/fold.py).  Returns\n"
"(lo, hi), the frames painted lie in lo .. hi - 1; nothing is written if a block is not in\n"
"target or its level is not 0..10.");

static PyObject *
paint_blocks(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "paint_blocks(target, level, block, values)");
        return NULL;
    }
    Py_buffer target, level, block, values;
    if (get_view(args[0], &target, 1, "paint_blocks() target") < 0)
        return NULL;
    if (get_items(args[1], &level, "paint_blocks() level") < 0) {
        PyBuffer_Release(&target);
        return NULL;
    }
    if (get_items(args[2], &block, "paint_blocks() block") < 0) {
        PyBuffer_Release(&target);
        PyBuffer_Release(&level);
        return NULL;
    }
    if (get_items(args[3], &values, "paint_blocks() values") < 0) {
        PyBuffer_Release(&target);
        PyBuffer_Release(&level);
        PyBuffer_Release(&block);
        return NULL;
    }
    PyObject *result = NULL;
    const int64_t *lv = level.buf, *bl = block.buf, *val = values.buf;
    Py_ssize_t count = level.len / 8, size = target.len, lo = size, hi = 0;
    unsigned char *frames = target.buf;
    if (block.len != level.len || values.len != level.len) {
        PyErr_SetString(PyExc_ValueError, "paint_blocks(): level, block, values differ in length");
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {    /* every block checked before any is painted */
        if (lv[i] < 0 || lv[i] >= MAX_ORDER || bl[i] < 0 || bl[i] >= size
            || (bl[i] + 1) << lv[i] > size) {
            PyErr_Format(PyExc_ValueError, "paint_blocks(): block %lld of level %lld is not in "
                         "the %zd frames", (long long)bl[i], (long long)lv[i], size);
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {    /* frames block << level .. + 2^level - 1 */
        Py_ssize_t first = bl[i] << lv[i], frames_in = (Py_ssize_t)1 << lv[i];
        memset(frames + first, (unsigned char)val[i], frames_in);
        if (first < lo)
            lo = first;
        if (first + frames_in > hi)
            hi = first + frames_in;
    }
    result = Py_BuildValue("nn", lo, hi);
done:
    PyBuffer_Release(&target);
    PyBuffer_Release(&level);
    PyBuffer_Release(&block);
    PyBuffer_Release(&values);
    return result;
}

/* --- trace replay: kmviz/trace.py _replay_events()'s loop over a loaded trace, in C --------- */
/* The event kinds of trace.py's columns (TRACEPOINTS) */
#define TRACE_KMALLOC 0
#define TRACE_KFREE 1
#define TRACE_KMEM_CACHE_ALLOC 2
#define TRACE_KMEM_CACHE_FREE 3
#define TRACE_MM_PAGE_ALLOC 4
/* trace.py REPLAY_COUNTERS: the counters array's slots, then the event being replayed */
enum {
    R_ALLOCATIONS, R_FREES, R_NULL_FREES, R_FAILED_IN_TRACE, R_FAILED_IN_SIMULATION,
    R_FREES_OF_FAILED, R_FREES_WITHOUT_ALLOC, R_ALLOCATED_AGAIN, R_FREE_ORDER_DIFFERS,
    R_SLAB_PAGES, R_INDEX, R_SLOTS
};
/* the kernel's calls, in the order of trace.py _replay_calls() */
enum { C_KMALLOC, C_KFREE, C_KMEM_CACHE_ALLOC, C_KMEM_CACHE_FREE, C_ALLOC_PAGES, C_FREE_BLOCK };
enum { COL_KIND, COL_POINTER, COL_FIRST, COL_SECOND, COL_GFP, COL_NAME, COL_SLAB, COL_COUNT };

/* What _replay_events() keeps in its dicts objects and object_caches (trace pointer ->
 * simulated address, and the cache of a kmem_cache_alloc) and caches ((name, bytes_req,
 * bytes_alloc) -> cache), in open-addressing tables: linear probing, deletion by shifting
 * back.  An object's cache is its key's position in caches (trace.py's cache list). */
typedef struct { uint64_t key, addr; int32_t cache, used; } ObjectSlot;
typedef struct { int64_t first, second; int32_t name, used; } CacheSlot;

typedef struct {
    PyObject_HEAD
    ObjectSlot *objects;
    Py_ssize_t mask, count;
    CacheSlot *caches;         /* the cache keys seen, by position */
    int ncaches, cache_room;
    int recent[64];            /* by a hash of the key: the position it had last (a guess) */
} ReplayTable;

static uint64_t
replay_hash(uint64_t x)
{   /* splitmix64's finalizer: pointers aligned to 64 bytes spread over every slot */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The slot of ``key``, or of the empty slot where it would go (then objects[slot].used is 0) */
static Py_ssize_t
replay_find(ReplayTable *table, uint64_t key)
{
    Py_ssize_t slot = replay_hash(key) & table->mask;
    while (table->objects[slot].used && table->objects[slot].key != key)
        slot = (slot + 1) & table->mask;
    return slot;
}

static void
replay_delete(ReplayTable *table, Py_ssize_t hole)
{
    ObjectSlot *slots = table->objects;
    Py_ssize_t mask = table->mask;
    for (Py_ssize_t at = (hole + 1) & mask; slots[at].used; at = (at + 1) & mask) {
        Py_ssize_t home = replay_hash(slots[at].key) & mask;
        /* an entry may move back into the hole unless its home lies after the hole */
        if (((at - home) & mask) >= ((at - hole) & mask)) {
            slots[hole] = slots[at];
            hole = at;
        }
    }
    slots[hole].used = 0;
    table->count--;
}

/* Add ``key`` (not in the table) with its address and cache position; -1 if out of memory. */
static int
replay_insert(ReplayTable *table, uint64_t key, uint64_t addr, int cache)
{
    if ((table->count + 1) * 10 > (table->mask + 1) * 7) {     /* grow at 70% full */
        ObjectSlot *old = table->objects;
        Py_ssize_t old_size = table->mask + 1;
        ObjectSlot *grown = PyMem_Calloc(2 * old_size, sizeof(ObjectSlot));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        table->objects = grown;
        table->mask = 2 * old_size - 1;
        for (Py_ssize_t i = 0; i < old_size; i++)
            if (old[i].used)
                table->objects[replay_find(table, old[i].key)] = old[i];
        PyMem_Free(old);
    }
    ObjectSlot *slot = &table->objects[replay_find(table, key)];
    *slot = (ObjectSlot){key, addr, cache, 1};
    table->count++;
    return 0;
}

static PyObject *
ReplayTable_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs != NULL && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "ReplayTable() takes no arguments");
        return NULL;
    }
    ReplayTable *self = (ReplayTable *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->mask = 1023;
    self->objects = PyMem_Calloc(self->mask + 1, sizeof(ObjectSlot));
    if (self->objects == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
ReplayTable_dealloc(ReplayTable *self)
{
    PyMem_Free(self->objects);
    PyMem_Free(self->caches);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
ReplayTable_live_objects(ReplayTable *self, PyObject *unused)
{
    Py_ssize_t live = 0;
    for (Py_ssize_t i = 0; i <= self->mask; i++)
        live += self->objects[i].used && self->objects[i].addr != 0;
    return PyLong_FromSsize_t(live);
}

static PyObject *
ReplayTable_cache_keys(ReplayTable *self, PyObject *unused)
{
    PyObject *keys = PyList_New(self->ncaches);
    for (int i = 0; keys != NULL && i < self->ncaches; i++) {
        CacheSlot *c = &self->caches[i];
        PyObject *key = Py_BuildValue("(iLL)", c->name, (long long)c->first,
                                      (long long)c->second);
        if (key == NULL)
            Py_CLEAR(keys);
        else
            PyList_SET_ITEM(keys, i, key);
    }
    return keys;
}

static PyMethodDef ReplayTable_methods[] = {
    {"live_objects", (PyCFunction)ReplayTable_live_objects, METH_NOARGS,
     "How many objects the replay holds with a simulated address (not failed)."},
    {"cache_keys", (PyCFunction)ReplayTable_cache_keys, METH_NOARGS,
     "The (name, bytes_req, bytes_alloc) of each cache, in the order first needed."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReplayTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kmviz.engine._fastpath.ReplayTable",
    .tp_doc = "replay_events()'s tables: trace pointers to simulated objects, cache keys.",
    .tp_basicsize = sizeof(ReplayTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = ReplayTable_new,
    .tp_dealloc = (destructor)ReplayTable_dealloc,
    .tp_methods = ReplayTable_methods,
};

/* dict.pop(key, None) as a new reference, or NULL with *missing set (or an error raised) */
static PyObject *
replay_pop(PyObject *dict, PyObject *key, int *missing)
{
    PyObject *value = PyDict_GetItemWithError(dict, key);
    *missing = value == NULL;
    if (value == NULL)
        return NULL;
    Py_INCREF(value);
    if (PyDict_DelItem(dict, key) < 0) {
        Py_DECREF(value);
        *missing = 0;
        return NULL;
    }
    return value;
}

/* trace.py _free_object(): kmem_cache_free(cache, addr) or kfree(addr); nothing for 0 */
static int
replay_free_object(PyObject *const *calls, uint64_t addr, int cache, PyObject *cache_list)
{
    if (addr == 0)
        return 0;
    PyObject *address = PyLong_FromUnsignedLongLong(addr), *result;
    if (address == NULL)
        return -1;
    if (cache >= 0) {
        PyObject *args[2] = {PyList_GET_ITEM(cache_list, cache), address};
        result = PyObject_Vectorcall(calls[C_KMEM_CACHE_FREE], args, 2, NULL);
    } else {
        result = PyObject_Vectorcall(calls[C_KFREE], &address, 1, NULL);
    }
    Py_DECREF(address);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* trace.py _free_block(): __free_pages(page, order) of a (page, order) block; nothing for None */
static int
replay_free_block(PyObject *const *calls, PyObject *block)
{
    if (block == Py_None)
        return 0;
    PyObject *result = PyObject_Vectorcall(calls[C_FREE_BLOCK], &PyTuple_GET_ITEM(block, 0), 2,
                                           NULL);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* The position of the cache key (name, bytes_req, bytes_alloc) in table->caches, added if new
 * (*added set); -1 with an exception when out of memory. */
static int
replay_cache_position(ReplayTable *table, int name, int64_t first, int64_t second, int *added)
{
    *added = 0;
    uint64_t mixed = (uint64_t)name ^ ((uint64_t)first << 20) ^ ((uint64_t)second << 40);
    int guess = (int)(replay_hash(mixed) & 63);
    CacheSlot *c = table->caches;
    int at = table->recent[guess];
    if (at < table->ncaches && c[at].name == name && c[at].first == first
        && c[at].second == second)
        return at;
    for (at = 0; at < table->ncaches; at++) {
        if (c[at].name == name && c[at].first == first && c[at].second == second) {
            table->recent[guess] = at;
            return at;
        }
    }
    if (table->ncaches == table->cache_room) {
        int room = table->cache_room ? 2 * table->cache_room : 64;
        CacheSlot *grown = PyMem_Realloc(table->caches, room * sizeof(CacheSlot));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        table->caches = grown;
        table->cache_room = room;
    }
    table->caches[table->ncaches] = (CacheSlot){first, second, name, 1};
    table->recent[guess] = table->ncaches;
    *added = 1;
    return table->ncaches++;
}

/* One object event (kmalloc, kfree, kmem_cache_alloc, kmem_cache_free): 0, 1 when a
 * kmem_cache_alloc needs a cache trace.py has not made yet, -1 on an error. */
static int
replay_object(PyObject *const *calls, int kind, uint64_t ptr, int64_t first, int64_t second,
              unsigned long gfp_value, int name, ReplayTable *objects, PyObject *cache_list,
              int64_t *counters)
{
    int alloc = kind == TRACE_KMALLOC || kind == TRACE_KMEM_CACHE_ALLOC;
    if (alloc && ptr == 0) {
        counters[R_FAILED_IN_TRACE]++;
        return 0;
    }
    Py_ssize_t slot = replay_find(objects, ptr);
    int held = objects->objects[slot].used;
    uint64_t addr = objects->objects[slot].addr;
    int cache = objects->objects[slot].cache;
    if (held)
        replay_delete(objects, slot);
    if (!alloc) {
        if (!held && ptr == 0 && kind == TRACE_KFREE) {    /* traced before kfree()'s NULL check */
            PyObject *null = PyLong_FromLong(0), *result = NULL;
            if (null != NULL)
                result = PyObject_Vectorcall(calls[C_KFREE], &null, 1, NULL);
            Py_XDECREF(null);
            if (result == NULL)
                return -1;
            Py_DECREF(result);
            counters[R_NULL_FREES]++;
        } else if (!held) {
            counters[R_FREES_WITHOUT_ALLOC]++;
        } else if (addr == 0) {
            counters[R_FREES_OF_FAILED]++;
        } else {
            if (replay_free_object(calls, addr, cache, cache_list) < 0)
                return -1;
            counters[R_FREES]++;
        }
        return 0;
    }
    if (held) {                 /* allocated again: its free was not traced */
        counters[R_ALLOCATED_AGAIN]++;
        if (replay_free_object(calls, addr, cache, cache_list) < 0)
            return -1;
    }
    PyObject *call = calls[C_KMALLOC], *target = NULL;
    cache = -1;
    if (kind == TRACE_KMEM_CACHE_ALLOC) {
        int added;
        cache = replay_cache_position(objects, name, first, second, &added);
        if (cache < 0)
            return -1;
        if (cache >= PyList_GET_SIZE(cache_list))
            return 1;           /* trace.py makes the cache (_cache_for()) and calls again */
        target = PyList_GET_ITEM(cache_list, cache);
        call = calls[C_KMEM_CACHE_ALLOC];
    }
    PyObject *result;
    if (target == Py_None) {    /* the cache could not be made: the allocation fails */
        result = PyLong_FromLong(0);
    } else {
        PyObject *gfp = PyLong_FromUnsignedLong(gfp_value);
        PyObject *argument = target != NULL ? Py_NewRef(target) : PyLong_FromLongLong(first);
        result = NULL;
        if (gfp != NULL && argument != NULL) {
            PyObject *args[2] = {argument, gfp};
            result = PyObject_Vectorcall(call, args, 2, NULL);
        }
        Py_XDECREF(gfp);
        Py_XDECREF(argument);
    }
    if (result == NULL)
        return -1;
    addr = PyLong_AsUnsignedLongLong(result);
    Py_DECREF(result);
    if (addr == (uint64_t)-1 && PyErr_Occurred())
        return -1;
    if (replay_insert(objects, ptr, addr, addr != 0 ? cache : -1) < 0)
        return -1;
    counters[addr != 0 ? R_ALLOCATIONS : R_FAILED_IN_SIMULATION]++;
    return 0;
}

/* One page event (mm_page_alloc, mm_page_free, mm_page_free_batched): 0, or -1 on an error */
static int
replay_page(PyObject *const *calls, int kind, unsigned long long page, long long pfn,
            long long order, unsigned long gfp_value, int slab_owned, PyObject *pages,
            PyObject *slab_pfns, int64_t *counters)
{
    int missing, status = 0;
    if (kind == TRACE_MM_PAGE_ALLOC && page == 0) {
        counters[R_FAILED_IN_TRACE]++;
        return 0;
    }
    PyObject *key = PyLong_FromLongLong(pfn), *block = NULL, *order_object = NULL;
    PyObject *result = NULL, *gfp = NULL;
    if (key == NULL)
        return -1;
    if (kind == TRACE_MM_PAGE_ALLOC && slab_owned) {   /* the simulated SLUB takes its own */
        if (PySet_Add(slab_pfns, key) < 0)
            goto error;
        counters[R_SLAB_PAGES]++;
        goto done;
    }
    block = replay_pop(pages, key, &missing);
    if (block == NULL && !missing)
        goto error;
    if (kind == TRACE_MM_PAGE_ALLOC) {
        if (block != NULL) {
            counters[R_ALLOCATED_AGAIN]++;
            if (replay_free_block(calls, block) < 0)
                goto error;
        }
        order_object = PyLong_FromLongLong(order);
        gfp = PyLong_FromUnsignedLong(gfp_value);
        if (order_object == NULL || gfp == NULL)
            goto error;
        PyObject *args[2] = {gfp, order_object};
        result = PyObject_Vectorcall(calls[C_ALLOC_PAGES], args, 2, NULL);
        if (result == NULL)
            goto error;
        PyObject *held = result == Py_None ? Py_NewRef(Py_None)
                                           : PyTuple_Pack(2, result, order_object);
        if (held == NULL)
            goto error;
        int failed = PyDict_SetItem(pages, key, held) < 0;
        Py_DECREF(held);
        if (failed)
            goto error;
        counters[result == Py_None ? R_FAILED_IN_SIMULATION : R_ALLOCATIONS]++;
        goto done;
    }
    if (block == NULL) {
        int slab = PySet_Discard(slab_pfns, key);
        if (slab < 0)
            goto error;
        counters[slab ? R_SLAB_PAGES : R_FREES_WITHOUT_ALLOC]++;
        goto done;
    }
    if (block == Py_None) {
        counters[R_FREES_OF_FAILED]++;
        goto done;
    }
    long long held_order = PyLong_AsLongLong(PyTuple_GET_ITEM(block, 1));
    if (held_order == -1 && PyErr_Occurred())
        goto error;
    if (held_order != order)
        counters[R_FREE_ORDER_DIFFERS]++;      /* freed with the allocation's order */
    if (replay_free_block(calls, block) < 0)
        goto error;
    counters[R_FREES]++;
done:
    Py_XDECREF(gfp);
    Py_XDECREF(result);
    Py_XDECREF(order_object);
    Py_XDECREF(block);
    Py_DECREF(key);
    return status;
error:
    status = -1;
    goto done;
}

PyDoc_STRVAR(replay_events_doc,
"replay_events(columns, counters, objects, caches, pages, slab_pfns, calls)\n--\n\n"
"trace.py _replay_events() from event counters[-1] on: the same kernel calls and counts.\n"
"columns: the trace's (kind, pointer, bytes_req_or_pfn, bytes_alloc_or_order, gfp, name)\n"
"arrays and the slab-owned flags; counters: an array('q') of REPLAY_COUNTERS and the event\n"
"reached; objects: a ReplayTable; caches: the list of the caches made, in the order of\n"
"objects.cache_keys(); pages: {pfn: (Page, order) or None}; slab_pfns: a set; calls:\n"
"_replay_calls(). Stops at the end, or at a kmem_cache_alloc whose cache is not in caches\n"
"yet (counters[-1] says which); an exception (a panic) stops it too.");

static PyObject *
replay_events(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != COL_COUNT
        || !PyObject_TypeCheck(args[2], &ReplayTableType) || !PyList_CheckExact(args[3])
        || !PyDict_CheckExact(args[4]) || !PySet_CheckExact(args[5])
        || !PyTuple_CheckExact(args[6]) || PyTuple_GET_SIZE(args[6]) != C_FREE_BLOCK + 1) {
        PyErr_SetString(PyExc_TypeError, "replay_events(columns: tuple of 7, counters, "
                        "objects: ReplayTable, caches: list, pages: dict, slab_pfns: set, "
                        "calls: tuple of 6)");
        return NULL;
    }
    static const int itemsize[COL_COUNT] = {1, 8, 8, 8, 4, 4, 1};
    Py_buffer views[COL_COUNT + 1];
    int held = 0;
    PyObject *status = NULL;
    for (; held <= COL_COUNT; held++) {
        PyObject *source = held < COL_COUNT ? PyTuple_GET_ITEM(args[0], held) : args[1];
        int flags = held < COL_COUNT ? PyBUF_SIMPLE : PyBUF_WRITABLE;
        if (PyObject_GetBuffer(source, &views[held], flags) < 0)
            goto release;
    }
    Py_ssize_t count = views[COL_KIND].len;
    for (int column = 0; column < COL_COUNT; column++) {
        if (views[column].len != count * itemsize[column]) {
            PyErr_SetString(PyExc_ValueError, "replay_events(): columns of different lengths");
            goto release;
        }
    }
    if (views[COL_COUNT].len != R_SLOTS * 8) {
        PyErr_SetString(PyExc_ValueError, "replay_events(): counters has the wrong size");
        goto release;
    }
    const uint8_t *kinds = views[COL_KIND].buf, *slab = views[COL_SLAB].buf;
    const uint64_t *pointers = views[COL_POINTER].buf;
    const int64_t *firsts = views[COL_FIRST].buf, *seconds = views[COL_SECOND].buf;
    const uint32_t *gfps = views[COL_GFP].buf;
    const int32_t *names = views[COL_NAME].buf;
    int64_t *counters = views[COL_COUNT].buf;
    PyObject *const *calls = &PyTuple_GET_ITEM(args[6], 0);
    for (Py_ssize_t index = counters[R_INDEX]; index < count; index++) {
        counters[R_INDEX] = index;
        int kind = kinds[index], done;
        if (kind < TRACE_MM_PAGE_ALLOC)
            done = replay_object(calls, kind, pointers[index], firsts[index], seconds[index],
                                 gfps[index], names[index], (ReplayTable *)args[2], args[3],
                                 counters);
        else
            done = replay_page(calls, kind, pointers[index], firsts[index], seconds[index],
                               gfps[index], slab[index], args[4], args[5], counters);
        if (done < 0)
            goto release;
        if (done)       /* a cache to make first */
            break;
        counters[R_INDEX] = index + 1;
    }
    status = Py_NewRef(Py_None);
release:
    while (held-- > 0)
        PyBuffer_Release(&views[held]);
    return status;
}

PyDoc_STRVAR(slab_page_allocs_doc,
"slab_page_allocs(kinds, pointers, gfps, alloc_or_order, contexts, stream_of, slab_try,\n"
"                 kmalloc_max_cache_size)\n--\n\n"
"trace.py _slab_page_allocs() in C: a bytearray with 1 for each mm_page_alloc the slab\n"
"allocator made for the object allocated next in its stream. contexts: each event's context;\n"
"stream_of: each context's stream (its (pid, cpu) numbered), an array('q').");

static PyObject *
slab_page_allocs(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "slab_page_allocs() takes 8 arguments");
        return NULL;
    }
    long long slab_try = PyLong_AsLongLong(args[6]), max_cache = PyLong_AsLongLong(args[7]);
    if (PyErr_Occurred())
        return NULL;
    static const int itemsize[6] = {1, 8, 4, 8, 4, 8};
    Py_buffer views[6];
    int held = 0;
    PyObject *owned = NULL;
    int64_t *waiting = NULL;   /* per stream: its page allocation waiting for an object, -1 */
    uint8_t *flags = NULL;     /* per stream: bit 0 that one is slab-like, bit 1 a failed try */
    for (; held < 6; held++)
        if (PyObject_GetBuffer(args[held], &views[held], PyBUF_SIMPLE) < 0)
            goto release;
    /* streams are numbered below the number of contexts */
    Py_ssize_t count = views[0].len, streams = views[5].len / 8;
    for (int column = 0; column < 5; column++) {
        if (views[column].len != count * itemsize[column]) {
            PyErr_SetString(PyExc_ValueError, "slab_page_allocs(): columns of different lengths");
            goto release;
        }
    }
    const uint8_t *kinds = views[0].buf;
    const uint64_t *pointers = views[1].buf;
    const uint32_t *gfps = views[2].buf, *contexts = views[4].buf;
    const int64_t *alloc_or_order = views[3].buf, *stream_of = views[5].buf;
    waiting = PyMem_Malloc((streams + 1) * sizeof(int64_t));
    flags = PyMem_Calloc(streams + 1, 1);
    owned = PyByteArray_FromStringAndSize(NULL, count);
    if (waiting == NULL || flags == NULL || owned == NULL) {
        if (owned == NULL || !PyErr_Occurred())
            PyErr_NoMemory();
        Py_CLEAR(owned);
        goto release;
    }
    uint8_t *result = (uint8_t *)PyByteArray_AS_STRING(owned);
    memset(result, 0, count);
    for (Py_ssize_t s = 0; s <= streams; s++)
        waiting[s] = -1;
    for (Py_ssize_t index = 0; index < count; index++) {
        int64_t stream = contexts[index] < streams ? stream_of[contexts[index]] : -1;
        if (stream < 0 || stream >= streams) {
            PyErr_SetString(PyExc_ValueError, "slab_page_allocs(): a context without a stream");
            Py_CLEAR(owned);
            goto release;
        }
        int kind = kinds[index];
        int64_t alloc = waiting[stream];
        waiting[stream] = -1;
        if (alloc >= 0 && (kind == TRACE_KMALLOC || kind == TRACE_KMEM_CACHE_ALLOC)) {
            int64_t bytes_alloc = alloc_or_order[index], order = alloc_or_order[alloc];
            /* a large kmalloc's pages: bytes_alloc == PAGE_SIZE << order */
            int large = kind == TRACE_KMALLOC && bytes_alloc > max_cache && order >= 0
                        && order <= 50 && bytes_alloc == (int64_t)4096 << order;
            if ((flags[stream] & 1) || large)
                result[alloc] = 1;
        }
        if (kind == TRACE_MM_PAGE_ALLOC && pointers[index] == 0) {
            flags[stream] |= 2;                         /* failed_try.add(stream) */
            continue;
        }
        if (kind == TRACE_MM_PAGE_ALLOC) {
            int slab_like = (flags[stream] & 2) || (gfps[index] & slab_try) == slab_try;
            waiting[stream] = index;
            flags[stream] = (flags[stream] & ~1) | slab_like;
        }
        flags[stream] &= ~2;                            /* failed_try.discard(stream) */
    }
release:
    while (held-- > 0)
        PyBuffer_Release(&views[held]);
    PyMem_Free(waiting);
    PyMem_Free(flags);
    return owned;
}

/* --- trace loading: kmviz/_trace_columns.py's event lines read in C ------------------------ */
/* The fixed layout trace_print_context() prints: "%16s-%-7d [%03d] " and five flag characters,
 * then " %5lu.%06lu: " (the seconds read here have 1..9 digits) and "<event>: <fields>". */
#define SCAN_CONTEXT 36
#define SCAN_SECONDS 37
#define SCAN_SHORTEST 60       /* the context, the time and the shortest event */
#define SCAN_CACHE 4096        /* interned strings remembered by their bytes' hash */

/* what a field's value must be: V_REQ and V_DEC \d+ (bytes_req; bytes_alloc or order) … */
enum { V_SITE, V_PTR, V_NAME, V_REQ, V_DEC, V_GFP, V_NODE, V_BOOL, V_PFN };
enum {  /* scan_trace_lines()'s output columns (trace_columns.py SCAN_COLUMNS) */
    S_STARTS, S_KIND, S_CONTEXT, S_TIMESTAMP, S_CALL_SITE, S_NAME, S_GFP, S_POINTER, S_FIRST,
    S_SECOND, S_NODE, S_ACCOUNTED, S_FIELDS_AT, S_COLUMNS
};
static const int scan_itemsize[S_COLUMNS] = {8, 1, 4, 8, 4, 4, 4, 8, 8, 8, 8, 1, 4};

typedef struct { const char *key; int value, length; } ScanField;
typedef struct { const char *name; int nfields; ScanField fields[8]; int length; } ScanEvent;

/* include/trace/events/kmem.h's TP_printk() of each event, in trace.py's TRACEPOINTS order */
static ScanEvent scan_events[8] = {     /* the lengths are filled in at import */
    {"kmalloc", 7, {{"call_site=", V_SITE}, {" ptr=", V_PTR}, {" bytes_req=", V_REQ},
                    {" bytes_alloc=", V_DEC}, {" gfp_flags=", V_GFP}, {" node=", V_NODE},
                    {" accounted=", V_BOOL}}},
    {"kfree", 2, {{"call_site=", V_SITE}, {" ptr=", V_PTR}}},
    {"kmem_cache_alloc", 7, {{"call_site=", V_SITE}, {" ptr=", V_PTR}, {" bytes_req=", V_REQ},
                             {" bytes_alloc=", V_DEC}, {" gfp_flags=", V_GFP},
                             {" node=", V_NODE}, {" accounted=", V_BOOL}}},
    {"kmem_cache_free", 3, {{"call_site=", V_SITE}, {" ptr=", V_PTR}, {" name=", V_NAME}}},
    {"mm_page_alloc", 5, {{"page=", V_PTR}, {" pfn=", V_PFN}, {" order=", V_DEC},
                          {" migratetype=", V_NODE}, {" gfp_flags=", V_GFP}}},
    {"mm_page_free", 3, {{"page=", V_PTR}, {" pfn=", V_PFN}, {" order=", V_DEC}}},
    {"mm_page_free_batched", 3, {{"page=", V_PTR}, {" pfn=", V_PFN}, {" order=", V_DEC}}},
    /* kmem_cache_alloc of kernels after 6.1: "name=%s" after ptr= */
    {"kmem_cache_alloc", 8, {{"call_site=", V_SITE}, {" ptr=", V_PTR}, {" name=", V_NAME},
                             {" bytes_req=", V_REQ}, {" bytes_alloc=", V_DEC},
                             {" gfp_flags=", V_GFP}, {" node=", V_NODE},
                             {" accounted=", V_BOOL}}},
};
#define SCAN_NAMED_ALLOC 7
#define SCAN_KMEM_CACHE_ALLOC 2
#define SCAN_BATCHED 6

typedef struct { Py_ssize_t at, length; int id; } ScanSlot;
typedef struct {
    PyObject *dict;            /* bytes -> id in the order first seen */
    ScanSlot slots[SCAN_CACHE];
} ScanTable;

/* The id of data[at, at + length) in table->dict, added if new; -1 with an exception set. */
static int
scan_intern(ScanTable *table, const char *data, Py_ssize_t at, Py_ssize_t length)
{
    uint64_t hash = (uint64_t)length * 0x9E3779B97F4A7C15ULL, word;
    Py_ssize_t i = 0;
    for (; i < length; i += 8) {            /* eight bytes at a time, the last ones alone */
        word = 0;
        memcpy(&word, data + at + i, length - i < 8 ? length - i : 8);
        hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
        hash ^= hash >> 32;
    }
    ScanSlot *slot = &table->slots[(hash ^ (hash >> 29)) & (SCAN_CACHE - 1)];
    if (slot->length == length && slot->id >= 0
        && memcmp(data + slot->at, data + at, length) == 0)
        return slot->id;
    PyObject *key = PyBytes_FromStringAndSize(data + at, length);
    if (key == NULL)
        return -1;
    PyObject *id = PyDict_GetItemWithError(table->dict, key);
    long value;
    if (id != NULL) {
        value = PyLong_AsLong(id);
    } else if (PyErr_Occurred()) {
        value = -1;
    } else {
        value = PyDict_GET_SIZE(table->dict);
        id = PyLong_FromLong(value);
        if (id == NULL || PyDict_SetItem(table->dict, key, id) < 0)
            value = -1;
        Py_XDECREF(id);
    }
    Py_DECREF(key);
    if (value >= 0) {
        slot->at = at;
        slot->length = length;
        slot->id = (int)value;
    }
    return (int)value;
}

static int
scan_hex(uint8_t byte)
{
    return byte >= '0' && byte <= '9' ? byte - '0' : byte >= 'a' && byte <= 'f' ? byte - 'a' + 10
                                                                               : -1;
}

/* digits in [at, end): 1..max_digits of them in ``base``, into *value; 0 if not that */
static int
scan_number(const uint8_t *p, Py_ssize_t at, Py_ssize_t end, int base, int max_digits,
            uint64_t *value)
{
    if (end - at < 1 || end - at > max_digits)
        return 0;
    uint64_t result = 0;
    for (Py_ssize_t i = at; i < end; i++) {
        int digit = base == 16 ? scan_hex(p[i]) : (p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : -1);
        if (digit < 0)
            return 0;
        result = result * base + digit;
    }
    *value = result;
    return 1;
}

static int
scan_whitespace(const uint8_t *p, Py_ssize_t at, Py_ssize_t end)
{   /* \s of an ASCII str: space, \t \n \v \f \r and \x1c..\x1f */
    for (Py_ssize_t i = at; i < end; i++)
        if (p[i] == ' ' || (p[i] >= 9 && p[i] <= 13) || (p[i] >= 0x1c && p[i] <= 0x1f))
            return 1;
    return 0;
}

/* One event line [start, end): its values into the columns at ``row``; 1 if it has the
 * layout and every field reads, 0 if it goes to _LineReader, -1 on an error. */
static int
scan_line(const uint8_t *p, Py_ssize_t start, Py_ssize_t end, Py_ssize_t row, char **out,
          ScanTable *tables)
{
    const uint8_t *line = p + start;
    Py_ssize_t length = end - start;
    int64_t *first = (int64_t *)out[S_FIRST], *second = (int64_t *)out[S_SECOND];
    int32_t *site = (int32_t *)out[S_CALL_SITE], *name = (int32_t *)out[S_NAME];
    int32_t *gfp = (int32_t *)out[S_GFP];
    first[row] = second[row] = 0;
    ((int64_t *)out[S_TIMESTAMP])[row] = ((int64_t *)out[S_NODE])[row] = 0;
    ((uint64_t *)out[S_POINTER])[row] = 0;
    ((int8_t *)out[S_ACCOUNTED])[row] = 0;
    ((int32_t *)out[S_FIELDS_AT])[row] = 0;
    site[row] = name[row] = gfp[row] = -1;
    if (length < SCAN_SHORTEST || line[SCAN_CONTEXT] != ' ')
        return 0;
    Py_ssize_t dot = SCAN_SECONDS + 5;
    while (dot < SCAN_SECONDS + 10 && line[dot] != '.')
        dot++;
    if (dot == SCAN_SECONDS + 10)
        return 0;
    Py_ssize_t digits = SCAN_SECONDS;       /* "%5lu": spaces, then digits up to the dot */
    while (digits < dot && line[digits] == ' ')
        digits++;
    uint64_t seconds, micro;
    if (!scan_number(line, digits, dot, 10, 9, &seconds)
        || !scan_number(line, dot + 1, dot + 7, 10, 6, &micro)
        || line[dot + 7] != ':' || line[dot + 8] != ' ')
        return 0;
    Py_ssize_t event = dot + 9;
    int kind = -1;
    for (int k = 0; k < 7 && kind < 0; k++) {
        size_t n = scan_events[k].length;
        if (event + (Py_ssize_t)n + 2 <= length && memcmp(line + event, scan_events[k].name, n) == 0
            && line[event + n] == ':' && line[event + n + 1] == ' ')
            kind = k;
    }
    if (kind < 0)
        return 0;
    Py_ssize_t fields_at = event + scan_events[kind].length + 2;
    Py_ssize_t equals[9];
    int count = 0;
    for (const uint8_t *at = line + fields_at;
         (at = memchr(at, '=', line + length - at)) != NULL; at++) {
        if (count == 9)
            return 0;
        equals[count++] = at - line;
    }
    const ScanEvent *format = &scan_events[kind];
    if (kind == SCAN_KMEM_CACHE_ALLOC && count == scan_events[SCAN_NAMED_ALLOC].nfields)
        format = &scan_events[SCAN_NAMED_ALLOC];
    if (count != format->nfields)
        return 0;
    for (int f = 0; f < count; f++) {
        const char *key = format->fields[f].key;
        Py_ssize_t key_length = format->fields[f].length, key_at = equals[f] - key_length + 1;
        if ((f == 0 && key_at != fields_at) || (f > 0 && key_at <= equals[f - 1])
            || memcmp(line + key_at, key, key_length) != 0)
            return 0;
        Py_ssize_t at = equals[f] + 1;
        Py_ssize_t stop = f + 1 < count ? equals[f + 1] - format->fields[f + 1].length + 1
                                        : length;
        if (stop <= at)
            return 0;
        uint64_t value;
        int id;
        switch (format->fields[f].value) {
        case V_SITE:
            if ((id = scan_intern(&tables[1], (const char *)p, start + at, stop - at)) < 0)
                return -1;
            site[row] = id;
            break;
        case V_NAME:
            if (kind == SCAN_KMEM_CACHE_ALLOC && scan_whitespace(line, at, stop))
                return 0;       /* name=(\S+) there */
            if ((id = scan_intern(&tables[2], (const char *)p, start + at, stop - at)) < 0)
                return -1;
            name[row] = id;
            break;
        case V_GFP:             /* _trace_columns.py parses each text once, and checks it */
            if ((id = scan_intern(&tables[3], (const char *)p, start + at, stop - at)) < 0)
                return -1;
            gfp[row] = id;
            break;
        case V_PTR:
            if (!scan_number(line, at, stop, 16, 16, &value) || stop - at != 16)
                return 0;
            ((uint64_t *)out[S_POINTER])[row] = value;
            break;
        case V_PFN:             /* 0x and up to 15 hex digits: an int64 */
            if (stop - at < 3 || line[at] != '0' || line[at + 1] != 'x'
                || !scan_number(line, at + 2, stop, 16, 15, &value))
                return 0;
            first[row] = (int64_t)value;
            break;
        case V_REQ:             /* bytes_req, bytes_alloc or order: up to 16 digits */
        case V_DEC:
            if (!scan_number(line, at, stop, 10, 16, &value))
                return 0;
            if (kind == SCAN_BATCHED && !(stop - at == 1 && line[at] == '0'))
                return 0;       /* "order=0" only */
            (format->fields[f].value == V_REQ ? first : second)[row] = (int64_t)value;
            break;
        case V_NODE: {          /* node or migratetype: -?\d{1,9}, an int32 */
            int negative = line[at] == '-';
            if (!scan_number(line, at + negative, stop, 10, 9, &value))
                return 0;
            ((int64_t *)out[S_NODE])[row] = negative ? -(int64_t)value : (int64_t)value;
            break;
        }
        case V_BOOL:
            if (stop - at == 4 && memcmp(line + at, "true", 4) == 0)
                ((int8_t *)out[S_ACCOUNTED])[row] = 1;
            else if (!(stop - at == 5 && memcmp(line + at, "false", 5) == 0))
                return 0;
            break;
        }
    }
    int context = scan_intern(&tables[0], (const char *)p, start, SCAN_CONTEXT);
    if (context < 0)
        return -1;
    ((int32_t *)out[S_CONTEXT])[row] = context;
    ((int64_t *)out[S_TIMESTAMP])[row] = (int64_t)((seconds * 1000000 + micro) * 1000);
    ((int32_t *)out[S_FIELDS_AT])[row] = (int32_t)fields_at;
    ((int8_t *)out[S_KIND])[row] = (int8_t)kind;
    return 1;
}

PyDoc_STRVAR(scan_trace_lines_doc,
"scan_trace_lines(data, size, tables)\n--\n\n"
"Read the lines of data[:size] (each ending in a newline) that have the layout of a 6.1 kmem\n"
"event: a tuple of bytearrays, the columns of _trace_columns.py SCAN_COLUMNS with one row per\n"
"line (kind -1: a line for _LineReader). tables: four dicts (contexts, call sites, names,\n"
"gfp_flags texts) that give each string an id in the order first seen.");

static PyObject *
scan_trace_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[2]) || PyTuple_GET_SIZE(args[2]) != 4) {
        PyErr_SetString(PyExc_TypeError, "scan_trace_lines(data, size, tables: 4 dicts)");
        return NULL;
    }
    for (int t = 0; t < 4; t++) {
        if (!PyDict_CheckExact(PyTuple_GET_ITEM(args[2], t))) {
            PyErr_SetString(PyExc_TypeError, "scan_trace_lines(): tables must be dicts");
            return NULL;
        }
    }
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    ScanTable *tables = PyMem_Calloc(4, sizeof(ScanTable));
    PyObject *columns = NULL;
    if (tables == NULL) {
        PyErr_NoMemory();
        goto release;
    }
    if (size < 0 || size > data.len) {
        PyErr_SetString(PyExc_ValueError, "scan_trace_lines(): size beyond the data");
        goto release;
    }
    const uint8_t *p = data.buf;
    Py_ssize_t lines = 0;
    for (const uint8_t *at = p; (at = memchr(at, '\n', p + size - at)) != NULL; at++)
        lines++;
    columns = PyTuple_New(S_COLUMNS);
    if (columns == NULL)
        goto release;
    char *out[S_COLUMNS];
    for (int column = 0; column < S_COLUMNS; column++) {
        Py_ssize_t rows = lines + (column == S_STARTS);     /* starts: and the end */
        PyObject *bytes = PyByteArray_FromStringAndSize(NULL, rows * scan_itemsize[column]);
        if (bytes == NULL) {
            Py_CLEAR(columns);
            goto release;
        }
        PyTuple_SET_ITEM(columns, column, bytes);
        out[column] = PyByteArray_AS_STRING(bytes);
    }
    for (int t = 0; t < 4; t++) {
        tables[t].dict = PyTuple_GET_ITEM(args[2], t);
        for (int s = 0; s < SCAN_CACHE; s++)
            tables[t].slots[s].id = -1;
    }
    int64_t *starts = (int64_t *)out[S_STARTS];
    Py_ssize_t start = 0;
    for (Py_ssize_t row = 0; row < lines; row++) {
        const uint8_t *newline = memchr(p + start, '\n', size - start);
        Py_ssize_t end = newline - p;
        starts[row] = start;
        ((int8_t *)out[S_KIND])[row] = -1;      /* until the line has read whole */
        ((int32_t *)out[S_CONTEXT])[row] = -1;
        if (scan_line(p, start, end, row, out, tables) < 0) {
            Py_CLEAR(columns);
            goto release;
        }
        start = end + 1;
    }
    starts[lines] = start;
release:
    PyBuffer_Release(&data);
    PyMem_Free(tables);
    return columns;
}

static PyMethodDef module_functions[] = {
    {"pte_fill", (PyCFunction)(void (*)(void))pte_fill, METH_FASTCALL, pte_fill_doc},
    {"pte_clear", (PyCFunction)(void (*)(void))pte_clear, METH_FASTCALL, pte_clear_doc},
    {"vmap_fit", (PyCFunction)(void (*)(void))vmap_fit, METH_FASTCALL, vmap_fit_doc},
    {"paint_blocks", (PyCFunction)(void (*)(void))paint_blocks, METH_FASTCALL, paint_blocks_doc},
    {"replay_events", (PyCFunction)(void (*)(void))replay_events, METH_FASTCALL,
     replay_events_doc},
    {"slab_page_allocs", (PyCFunction)(void (*)(void))slab_page_allocs, METH_FASTCALL,
     slab_page_allocs_doc},
    {"scan_trace_lines", (PyCFunction)(void (*)(void))scan_trace_lines, METH_FASTCALL,
     scan_trace_lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kmviz.engine._fastpath",
    .m_doc = "The buddy allocator's hot calls in C (see kmviz/engine/fastpath.py).",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    if (PyType_Ready(&FastPathType) < 0 || PyType_Ready(&SlabFastPathType) < 0
        || PyType_Ready(&ReplayTableType) < 0)
        return NULL;
    for (int e = 0; e < 8; e++) {               /* scan_trace_lines()'s name and key lengths */
        scan_events[e].length = (int)strlen(scan_events[e].name);
        for (int f = 0; f < scan_events[e].nfields; f++)
            scan_events[e].fields[f].length = (int)strlen(scan_events[e].fields[f].key);
    }
    for (int i = 0; i < MAX_ORDER; i++)
        if (orders[i] == NULL && (orders[i] = PyLong_FromLong(i)) == NULL)
            return NULL;
    for (int i = 0; i < PTRS_PER_PTE; i++)
        if (pte_slots[i] == NULL && (pte_slots[i] = PyLong_FromLong(i)) == NULL)
            return NULL;
    PyObject *module = PyModule_Create(&fastpath_module);
    if (module == NULL)
        return NULL;
    /* the constructors' keywords and the attributes read: fastpath.py uses no other build */
    if (PyModule_AddObjectRef(module, "FastPath", (PyObject *)&FastPathType) < 0
        || PyModule_AddObjectRef(module, "SlabFastPath", (PyObject *)&SlabFastPathType) < 0
        || PyModule_AddObjectRef(module, "ReplayTable", (PyObject *)&ReplayTableType) < 0
        || PyModule_AddIntConstant(module, "INTERFACE", 31) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
