/*  table: aligned columns. */
#include <czmq.h>
#include <stdarg.h>
#include "format.h"
#include "table.h"

#define S_MAX_COLUMNS 16

typedef struct {
    char *text;
    const char *color;
} s_cell_t;

typedef struct {
    s_cell_t cells [S_MAX_COLUMNS];
    size_t used;
} s_row_t;

struct _om_table_t {
    char *titles [S_MAX_COLUMNS];
    om_align_t aligns [S_MAX_COLUMNS];
    size_t columns;
    zlistx_t *rows;                //  of s_row_t
    s_row_t *current;
};

static void
s_row_destroy (void **item)
{
    s_row_t *row = (s_row_t *) *item;
    for (size_t i = 0; i < row->used; i++)
        free (row->cells [i].text);
    free (row);
    *item = NULL;
}

om_table_t *
om_table_new (void)
{
    om_table_t *self = (om_table_t *) zmalloc (sizeof (om_table_t));
    self->rows = zlistx_new ();
    assert (self->rows);
    zlistx_set_destructor (self->rows, s_row_destroy);
    return self;
}

void
om_table_destroy (om_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    om_table_t *self = *self_p;
    for (size_t i = 0; i < self->columns; i++)
        free (self->titles [i]);
    zlistx_destroy (&self->rows);
    free (self);
    *self_p = NULL;
}

void
om_table_column (om_table_t *self, const char *title, om_align_t align)
{
    assert (self->columns < S_MAX_COLUMNS);
    self->titles [self->columns] = strdup (title? title: "");
    assert (self->titles [self->columns]);
    self->aligns [self->columns] = align;
    self->columns++;
}

void
om_table_row (om_table_t *self)
{
    self->current = (s_row_t *) zmalloc (sizeof (s_row_t));
    zlistx_add_end (self->rows, self->current);
}

void
om_table_cell (om_table_t *self, const char *color, const char *format, ...)
{
    assert (self->current);
    if (self->current->used >= self->columns)
        return;                    //  more cells than columns: dropped
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    assert (text);
    s_cell_t *cell = &self->current->cells [self->current->used++];
    cell->text = om_sanitize (text);
    cell->color = color;
}

size_t
om_table_rows (om_table_t *self)
{
    return zlistx_size (self->rows);
}

void
om_print_colored (FILE *out, bool on, const char *color, const char *text)
{
    if (on && color)
        fprintf (out, "\033[%sm%s\033[0m", color, text);
    else
        fputs (text, out);
}

static void
s_print_line (om_table_t *self, FILE *out, bool color, const size_t *widths,
              char *const *texts, const char *const *colors)
{
    //  The last column with text: nothing is padded after it
    size_t last = 0;
    for (size_t i = 0; i < self->columns; i++)
        if (texts [i] && *texts [i])
            last = i;
    for (size_t i = 0; i <= last; i++) {
        const char *text = texts [i]? texts [i]: "";
        size_t pad = widths [i] - om_width (text);
        if (i > 0)
            fputs ("  ", out);
        if (self->aligns [i] == OM_RIGHT)
            fprintf (out, "%*s", (int) pad, "");
        om_print_colored (out, color, colors [i], text);
        if (self->aligns [i] == OM_LEFT && i < last)
            fprintf (out, "%*s", (int) pad, "");
    }
    fputc ('\n', out);
}

int
om_table_print (om_table_t *self, FILE *out, bool color)
{
    size_t widths [S_MAX_COLUMNS] = { 0 };
    bool header = false;
    for (size_t i = 0; i < self->columns; i++) {
        widths [i] = om_width (self->titles [i]);
        header |= widths [i] > 0;
    }
    for (s_row_t *row = (s_row_t *) zlistx_first (self->rows); row;
         row = (s_row_t *) zlistx_next (self->rows))
        for (size_t i = 0; i < row->used; i++) {
            size_t width = om_width (row->cells [i].text);
            if (width > widths [i])
                widths [i] = width;
        }
    if (header) {
        const char *colors [S_MAX_COLUMNS];
        for (size_t i = 0; i < self->columns; i++)
            colors [i] = OM_BOLD;
        s_print_line (self, out, color, widths, self->titles, colors);
    }
    for (s_row_t *row = (s_row_t *) zlistx_first (self->rows); row;
         row = (s_row_t *) zlistx_next (self->rows)) {
        char *texts [S_MAX_COLUMNS] = { NULL };
        const char *colors [S_MAX_COLUMNS] = { NULL };
        for (size_t i = 0; i < row->used; i++) {
            texts [i] = row->cells [i].text;
            colors [i] = row->cells [i].color;
        }
        s_print_line (self, out, color, widths, texts, colors);
    }
    return ferror (out)? -1: 0;
}
