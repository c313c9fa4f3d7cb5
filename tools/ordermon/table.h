/*  table: aligned text tables for ordermon's output. Columns are declared
    first, then rows are filled cell by cell; printing sizes every column
    to its widest cell (counting UTF-8 code points) and colours cells only
    when asked to (stdout is a terminal).

        om_table_t *table = om_table_new ();
        om_table_column (table, "SKU", OM_LEFT);
        om_table_column (table, "AVAILABLE", OM_RIGHT);
        om_table_row (table);
        om_table_cell (table, NULL, "%s", sku);
        om_table_cell (table, OM_GREEN, "%d", 12);
        om_table_print (table, stdout, isatty (1));
        om_table_destroy (&table);
*/
#ifndef OM_TABLE_H_INCLUDED
#define OM_TABLE_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

typedef enum { OM_LEFT, OM_RIGHT } om_align_t;

typedef struct _om_table_t om_table_t;

om_table_t *om_table_new (void);
void om_table_destroy (om_table_t **self_p);

/*  Adds a column; a table whose titles are all empty prints no header. */
void om_table_column (om_table_t *self, const char *title, om_align_t align);

/*  Starts a new row. */
void om_table_row (om_table_t *self);

/*  Fills the next cell of the current row; control characters in the
    text are shown as '?'. `color` is an SGR parameter (OM_RED...) or NULL. */
void om_table_cell (om_table_t *self, const char *color, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

size_t om_table_rows (om_table_t *self);

/*  Prints the header (bold with colour) and every row, columns separated
    by two spaces, trailing blanks trimmed. Returns 0 or -1 on a write
    error. */
int om_table_print (om_table_t *self, FILE *out, bool color);

/*  "\033[<color>m" + text + "\033[0m" when color is on, else text. */
void om_print_colored (FILE *out, bool on, const char *color, const char *text);

#endif
