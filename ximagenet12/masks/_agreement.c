/* The compiled core of ximagenet12.masks.metrics: the boundary maps of two masks, the exact squared
 * distance from every boundary pixel of one to the other's nearest, and the pixel counts, in one call.
 *
 * metrics.py defines every measure and keeps a NumPy path giving the same numbers. This module only
 * counts, in integers, and picks the squared distances at the percentile's sorted positions: the
 * floating-point steps stay in Python, shared by both paths, so the two agree to the last bit.
 *
 * Plain CPython API and the buffer protocol: building needs a C compiler and Python's headers only.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Sides up to 2^26 px keep every squared distance below 2^53, exact as a double in Python. */
#define MAX_SIDE ((Py_ssize_t)1 << 26)

static const uint64_t ONES = 0x0101010101010101ULL;      /* bit 0 of every byte */
static const uint64_t TWO_BITS = 0x0303030303030303ULL;  /* bits 0 (mask A) and 1 (mask B) of every byte */
/* Byte j of LANE_INDEX is 7 - j, so for m of bytes 0 or 1 the top byte of m * LANE_INDEX adds up i times
   byte i of m: the lane numbers of its set bytes. No byte of the product exceeds 28, so none carries. */
static const uint64_t LANE_INDEX = 0x0001020304050607ULL;

/* Eight pixels, pixel i in byte lane i (bits above 1 cleared). */
static inline uint64_t load8(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if !PY_LITTLE_ENDIAN
    w = ((w & 0x00000000FFFFFFFFULL) << 32) | (w >> 32);
    w = ((w & 0x0000FFFF0000FFFFULL) << 16) | ((w >> 16) & 0x0000FFFF0000FFFFULL);
    w = ((w & 0x00FF00FF00FF00FFULL) << 8) | ((w >> 8) & 0x00FF00FF00FF00FFULL);
#endif
    return w & TWO_BITS;
}

/* How many bytes of m are 1 (m's bytes being 0 or 1), by the same top-byte sum. */
static inline long long lane_count(uint64_t m)
{
    return (long long)((m * ONES) >> 56);
}

typedef struct {
    int32_t *x, *y;
    Py_ssize_t n, cap;
} Points;

static int push(Points *p, Py_ssize_t x, Py_ssize_t y)
{
    if (p->n == p->cap) {
        Py_ssize_t cap = p->cap ? 2 * p->cap : 1024;
        int32_t *x2 = PyMem_RawRealloc(p->x, (size_t)cap * sizeof *x2);
        if (x2 == NULL)
            return -1;
        p->x = x2;
        int32_t *y2 = PyMem_RawRealloc(p->y, (size_t)cap * sizeof *y2);
        if (y2 == NULL)
            return -1;
        p->y = y2;
        p->cap = cap;
    }
    p->x[p->n] = (int32_t)x;
    p->y[p->n] = (int32_t)y;
    p->n++;
    return 0;
}

typedef struct {
    long long area[2], inter, sum_x[2], sum_y[2];
    Points edge[2];        /* boundary pixels of A and of B, in raster order */
    int64_t *d2[2];        /* squared distance from each to the nearest boundary pixel of the other mask */
    int64_t *kept[2];      /* d2 as computed, when the caller asks for it (selection reorders d2) */
    long long near[2];     /* how many of them lie within the radius */
    int64_t order[2][2];   /* d2 at the percentile's sorted positions low and high */
} Result;

static int push_edges(Result *res, unsigned bits, Py_ssize_t x, Py_ssize_t y)
{
    if ((bits & 1) && push(&res->edge[0], x, y) < 0)
        return -1;
    if ((bits & 2) && push(&res->edge[1], x, y) < 0)
        return -1;
    return 0;
}

/* seg2bmap of both bits, as metrics._edges computes it, with the areas, overlap and coordinate sums. */
static int scan(const uint8_t *base, Py_ssize_t height, Py_ssize_t width, Py_ssize_t stride, Result *res)
{
    for (Py_ssize_t y = 0; y < height; y++) {
        const uint8_t *row = base + y * stride;
        /* The replicated last row: south = here and south-east = east leave the east test alone. */
        const uint8_t *below = y + 1 < height ? row + stride : row;
        long long count[2] = {0, 0}, sum_x[2] = {0, 0}, inter = 0;
        Py_ssize_t x = 0;
        /* Eight pixels a step while the east and south-east words (pixels x+1..x+8) stay in the row. */
        for (; x + 8 < width; x += 8) {
            uint64_t here = load8(row + x);
            uint64_t edge = (here ^ load8(row + x + 1)) | (here ^ load8(below + x)) | (here ^ load8(below + x + 1));
            if (here == TWO_BITS) {  /* inside both masks, the common case */
                count[0] += 8, count[1] += 8, inter += 8;
                sum_x[0] += 8 * x + 28, sum_x[1] += 8 * x + 28;
            }
            else if (here) {
                uint64_t a = here & ONES, b = (here >> 1) & ONES;
                long long na = lane_count(a), nb = lane_count(b);
                count[0] += na, count[1] += nb, inter += lane_count(a & b);
                sum_x[0] += na * x + (long long)((a * LANE_INDEX) >> 56);
                sum_x[1] += nb * x + (long long)((b * LANE_INDEX) >> 56);
            }
            for (int i = 0; edge && i < 8; i++) {
                unsigned bits = (unsigned)(edge >> (8 * i)) & 3;
                if (bits && push_edges(res, bits, x + i, y) < 0)
                    return -1;
            }
        }
        for (; x < width; x++) {
            /* The replicated last column: east = here and south-east = south. */
            unsigned here = row[x] & 3, south = below[x] & 3;
            unsigned east = x + 1 < width ? row[x + 1] & 3u : here;
            unsigned diag = x + 1 < width ? below[x + 1] & 3u : south;
            unsigned bits = (here ^ east) | (here ^ south) | (here ^ diag);
            count[0] += here & 1, count[1] += here >> 1, inter += here == 3;
            sum_x[0] += (long long)(here & 1) * x, sum_x[1] += (long long)(here >> 1) * x;
            if (bits && push_edges(res, bits, x, y) < 0)
                return -1;
        }
        for (int k = 0; k < 2; k++) {
            res->area[k] += count[k];
            res->sum_x[k] += sum_x[k];
            res->sum_y[k] += count[k] * y;
        }
        res->inter += inter;
    }
    return 0;
}

/* One mask's boundary pixels column by column, for the nearest search. */
typedef struct {
    Py_ssize_t *start;   /* column x's rows are rows[start[x] .. start[x + 1]), ascending */
    int32_t *rows;
    Py_ssize_t *cursor;  /* per column, its first row not above the last query's row */
    Py_ssize_t *left;    /* the nearest nonempty column at or left of x, or -1 */
    Py_ssize_t *right;   /* the nearest nonempty column at or right of x, or width */
} Columns;

static void free_columns(Columns *c)
{
    PyMem_RawFree(c->start);
    PyMem_RawFree(c->rows);
    PyMem_RawFree(c->cursor);
    PyMem_RawFree(c->left);
    PyMem_RawFree(c->right);
}

static int index_columns(const Points *p, Py_ssize_t width, Columns *c)
{
    c->start = PyMem_RawCalloc((size_t)width + 1, sizeof *c->start);
    c->rows = PyMem_RawMalloc((size_t)p->n * sizeof *c->rows);
    c->cursor = PyMem_RawMalloc((size_t)width * sizeof *c->cursor);
    c->left = PyMem_RawMalloc((size_t)width * sizeof *c->left);
    c->right = PyMem_RawMalloc((size_t)width * sizeof *c->right);
    if (!c->start || !c->rows || !c->cursor || !c->left || !c->right)
        return -1;
    for (Py_ssize_t i = 0; i < p->n; i++)
        c->start[p->x[i] + 1]++;
    for (Py_ssize_t x = 0; x < width; x++)
        c->start[x + 1] += c->start[x];
    memcpy(c->cursor, c->start, (size_t)width * sizeof *c->cursor);
    for (Py_ssize_t i = 0; i < p->n; i++)  /* raster order: each column's rows come ascending */
        c->rows[c->cursor[p->x[i]]++] = p->y[i];
    memcpy(c->cursor, c->start, (size_t)width * sizeof *c->cursor);
    Py_ssize_t last = -1;
    for (Py_ssize_t x = 0; x < width; x++) {
        if (c->start[x + 1] > c->start[x])
            last = x;
        c->left[x] = last;
    }
    last = width;
    for (Py_ssize_t x = width; x-- > 0;) {
        if (c->start[x + 1] > c->start[x])
            last = x;
        c->right[x] = last;
    }
    return 0;
}

/* Rows from y to the nearest point of nonempty column x. Queries come in raster order, so a column's
   cursor only ever moves down: the walks over all queries add up to at most the column's length. */
static inline int64_t gap(Columns *c, Py_ssize_t x, int64_t y)
{
    Py_ssize_t k = c->cursor[x], first = c->start[x], end = c->start[x + 1];
    while (k < end && c->rows[k] < y)
        k++;
    c->cursor[x] = k;
    int64_t g = k < end ? c->rows[k] - y : INT64_MAX;
    if (k > first && y - c->rows[k - 1] < g)
        g = y - c->rows[k - 1];
    return g;
}

/* Exact squared distance from every query (raster order) to its nearest target: the targets' nonempty
   columns are visited in order of distance from the query's column, until that distance alone, squared,
   reaches the best found (no further column can beat it). */
static void nearest(const Points *queries, Columns *targets, Py_ssize_t width, int64_t *d2)
{
    for (Py_ssize_t i = 0; i < queries->n; i++) {
        const Py_ssize_t qx = queries->x[i];
        const int64_t qy = queries->y[i];
        Py_ssize_t right = targets->right[qx], left = qx > 0 ? targets->left[qx - 1] : -1;
        int64_t best = INT64_MAX;
        for (;;) {
            int go_right = right < width && (left < 0 || right - qx <= qx - left);
            if (!go_right && left < 0)
                break;
            Py_ssize_t x = go_right ? right : left;
            int64_t dx = x - qx, dx2 = dx * dx;
            if (dx2 >= best)
                break;
            int64_t g = gap(targets, x, qy);
            if (dx2 + g * g < best)
                best = dx2 + g * g;
            if (go_right)
                right = right + 1 < width ? targets->right[right + 1] : width;
            else
                left = left > 0 ? targets->left[left - 1] : -1;
        }
        d2[i] = best;
    }
}

static void sift_down(int64_t *heap, Py_ssize_t size, Py_ssize_t i)
{
    int64_t v = heap[i];
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= size)
            break;
        if (child + 1 < size && heap[child + 1] < heap[child])
            child++;
        if (heap[child] >= v)
            break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = v;
}

/* The values at sorted positions low and min(low + 1, n - 1) of v, reordering v: a min-heap keeps the
   n - low largest (a few percent of n at the 95th percentile), O(n log(n - low)) whatever the order. */
static void order_stats(int64_t *v, Py_ssize_t n, Py_ssize_t low, int64_t out[2])
{
    Py_ssize_t size = n - low;
    for (Py_ssize_t i = size / 2; i-- > 0;)
        sift_down(v, size, i);
    for (Py_ssize_t i = size; i < n; i++)
        if (v[i] > v[0]) {
            v[0] = v[i];
            sift_down(v, size, 0);
        }
    out[0] = v[0];
    out[1] = size == 1 ? v[0] : (size == 2 || v[1] < v[2]) ? v[1] : v[2];
}

static void free_result(Result *res)
{
    for (int k = 0; k < 2; k++) {
        PyMem_RawFree(res->edge[k].x);
        PyMem_RawFree(res->edge[k].y);
        PyMem_RawFree(res->d2[k]);
        PyMem_RawFree(res->kept[k]);
    }
}

/* Everything but the Python objects; runs without the GIL. -1: out of memory. */
static int compute(const uint8_t *base, Py_ssize_t height, Py_ssize_t width, Py_ssize_t stride,
                   int64_t radius2, double q, int keep, Result *res)
{
    if (scan(base, height, width, stride, res) < 0)
        return -1;
    if (res->edge[0].n == 0 || res->edge[1].n == 0)
        return 0;
    for (int k = 0; k < 2; k++) {
        const Points *from = &res->edge[k];
        Columns to = {0};
        res->d2[k] = PyMem_RawMalloc((size_t)from->n * sizeof *res->d2[k]);
        if (res->d2[k] == NULL || index_columns(&res->edge[1 - k], width, &to) < 0) {
            free_columns(&to);
            return -1;
        }
        nearest(from, &to, width, res->d2[k]);
        free_columns(&to);
        for (Py_ssize_t i = 0; i < from->n; i++)
            res->near[k] += res->d2[k][i] <= radius2;
        if (keep) {
            res->kept[k] = PyMem_RawMalloc((size_t)from->n * sizeof *res->kept[k]);
            if (res->kept[k] == NULL)
                return -1;
            memcpy(res->kept[k], res->d2[k], (size_t)from->n * sizeof *res->kept[k]);
        }
        /* NumPy's linear percentile: rank q / 100 * (n - 1), computed as metrics._rank does. */
        double rank = q / 100.0 * (double)(from->n - 1);
        Py_ssize_t low = (Py_ssize_t)rank;
        order_stats(res->d2[k], from->n, low < from->n ? low : from->n - 1, res->order[k]);
    }
    return 0;
}

static int check_format(const Py_buffer *view)
{
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '!')
        f++;
    if (view->itemsize != 1 || (strcmp(f, "B") != 0 && strcmp(f, "?") != 0)) {
        PyErr_Format(PyExc_TypeError, "both must hold uint8 or bool pixels, got format '%s' of %zd bytes",
                     view->format ? view->format : "B", view->itemsize);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(measure_doc,
"measure($module, both, radius, q, /, *, distances=False)\n--\n\n"
"Counts for two masks held in one 2-D uint8 (or bool) map, bit 0 mask A and bit 1 mask B (higher bits\n"
"ignored), rows contiguous: (area_a, area_b, intersection, sum_x_a, sum_y_a, sum_x_b, sum_y_b,\n"
"boundary_a, boundary_b, near_a, near_b, low_a, high_a, low_b, high_b). Boundaries are seg2bmap's, the\n"
"map's last row and column replicated; near_a counts A's boundary pixels whose nearest boundary pixel of\n"
"B lies within `radius` px (and back for near_b); low and high are the squared distances at the sorted\n"
"positions floor(q / 100 * (n - 1)) and the next (NumPy's linear percentile q). With no boundary in one\n"
"mask, near is 0 and low and high are -1. distances=True appends the squared distances from A's boundary\n"
"pixels and from B's (raster order) as bytes of native int64.");

static PyObject *measure(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"", "", "", "distances", NULL};
    PyObject *obj, *radius_obj, *out = NULL;
    double q;
    int keep = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOd|$p:measure", keywords, &obj, &radius_obj, &q, &keep))
        return NULL;
    if (!PyLong_Check(radius_obj))
        return PyErr_Format(PyExc_TypeError, "radius must be an int, got %.100s", Py_TYPE(radius_obj)->tp_name);
    int overflow;
    long long radius = PyLong_AsLongLongAndOverflow(radius_obj, &overflow);
    if (radius == -1 && PyErr_Occurred())
        return NULL;
    if (overflow < 0 || (overflow == 0 && radius < 0))  /* on overflow the value is -1 */
        return PyErr_Format(PyExc_ValueError, "radius must be >= 0, got %R", radius_obj);
    /* Any radius beyond 2^31 covers every distance a side below 2^26 allows. */
    int64_t radius2 = overflow || radius > ((long long)1 << 31) ? INT64_MAX : (int64_t)(radius * radius);
    if (!(q >= 0 && q <= 100))
        return PyErr_Format(PyExc_ValueError, "q must be within [0, 100], got %R", PyTuple_GET_ITEM(args, 2));

    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_STRIDES | PyBUF_FORMAT) < 0)
        return NULL;
    if (check_format(&view) < 0)
        goto done;
    if (view.ndim != 2) {
        PyErr_Format(PyExc_ValueError, "both must be 2-D, got %d dimensions", view.ndim);
        goto done;
    }
    Py_ssize_t height = view.shape[0], width = view.shape[1];
    if (height < 1 || width < 1 || height > MAX_SIDE || width > MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "both must have 1 to %zd rows and columns, got %zd x %zd", MAX_SIDE,
                     height, width);
        goto done;
    }
    /* A side of one pixel may carry any stride (NumPy calls such arrays contiguous whatever it is). */
    Py_ssize_t stride = height > 1 ? view.strides[0] : width;
    if ((width > 1 && view.strides[1] != 1) || stride < width) {
        PyErr_Format(PyExc_ValueError, "both's rows must be contiguous and in order, got strides (%zd, %zd)",
                     view.strides[0], view.strides[1]);
        goto done;
    }

    Result res;
    memset(&res, 0, sizeof res);
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = compute(view.buf, height, width, stride, radius2, q, keep, &res);
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
    }
    else {
        int both = res.edge[0].n && res.edge[1].n;  /* else no distances: near 0, order statistics -1 */
        long long low_a = both ? res.order[0][0] : -1, high_a = both ? res.order[0][1] : -1;
        long long low_b = both ? res.order[1][0] : -1, high_b = both ? res.order[1][1] : -1;
        out = Py_BuildValue("(LLLLLLLnnLLLLLL)", res.area[0], res.area[1], res.inter, res.sum_x[0], res.sum_y[0],
                            res.sum_x[1], res.sum_y[1], res.edge[0].n, res.edge[1].n, res.near[0], res.near[1],
                            low_a, high_a, low_b, high_b);
        if (out != NULL && keep) {
            Py_ssize_t size_a = both ? res.edge[0].n * (Py_ssize_t)sizeof(int64_t) : 0;
            Py_ssize_t size_b = both ? res.edge[1].n * (Py_ssize_t)sizeof(int64_t) : 0;
            PyObject *tail = Py_BuildValue("(y#y#)", both ? (const char *)res.kept[0] : "", size_a,
                                           both ? (const char *)res.kept[1] : "", size_b);
            PyObject *joined = tail ? PySequence_Concat(out, tail) : NULL;
            Py_XDECREF(tail);
            Py_SETREF(out, joined);
        }
    }
    free_result(&res);
done:
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"measure", (PyCFunction)(void (*)(void))measure, METH_VARARGS | METH_KEYWORDS, measure_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},  /* no state: safe without the GIL on free-threaded builds */
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_agreement",
    .m_doc = "Boundary maps, exact boundary distances and pixel counts of two masks (see metrics.py).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit__agreement(void)
{
    return PyModuleDef_Init(&module);
}
