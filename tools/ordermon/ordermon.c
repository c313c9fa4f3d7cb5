/*  ordermon: the ops console of orderd. Parses the command line, picks the
    command, and leaves the talking to the command modules: commands.c
    (request/reply on the admin door), watch.c (the events door), top.c
    (the live full-screen view). */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <unistd.h>
#include "format.h"
#include "number.h"
#include "ordermon.h"
#include "wire.h"

#define ORDERMON_VERSION "0.1.0"

//  Command options, as bits: which command takes which
#define S_STATUS   (1 << 0)
#define S_USER     (1 << 1)
#define S_LIMIT    (1 << 2)
#define S_AFTER    (1 << 3)
#define S_DELETED  (1 << 4)
#define S_SET      (1 << 5)
#define S_COUNT    (1 << 6)
#define S_REASON   (1 << 7)

typedef int (s_command_fn) (const om_opts_t *opts);

typedef struct {
    const char *name;
    int min_args, max_args;        //  max -1: any number
    unsigned options;
    const char *synopsis;
    const char *summary;
    const char *example;
    s_command_fn *run;
} s_command_t;

static const s_command_t s_commands [] = {
    { "health", 0, 0, 0, "health",
      "ok / degraded / down, with the store and each adapter",
      "ordermon health", om_cmd_health },
    { "stats", 0, 0, 0, "stats",
      "counts by status, rates, latency percentiles, store, adapters",
      "ordermon stats", om_cmd_stats },
    { "list", 0, 0, S_STATUS | S_USER | S_LIMIT | S_AFTER | S_DELETED,
      "list [--status S] [--user U] [--limit N] [--after ID] [--deleted]",
      "orders, newest first (limit 1..500, default 50)",
      "ordermon list --status paid --limit 20", om_cmd_list },
    { "show", 1, 1, S_DELETED, "show ID [--deleted]",
      "one order: status, user, money, payment, products",
      "ordermon show o018f2a3b4c5d6e7f", om_cmd_show },
    { "history", 1, 1, 0, "history ID",
      "every transition of one order, with reasons",
      "ordermon history o018f2a3b4c5d6e7f", om_cmd_history },
    { "watch", 0, 0, S_STATUS | S_COUNT, "watch [--status S] [--count N]",
      "one line per transition as it happens, until Ctrl-C (or N events)",
      "ordermon watch --status failed", om_cmd_watch },
    { "advance", 2, 2, S_REASON, "advance ID TO [--reason TEXT]",
      "move a confirmed order on: processing, shipped, delivered",
      "ordermon advance o018f2a3b4c5d6e7f shipped --reason 'DHL 1234'", om_cmd_advance },
    { "retry", 1, 1, 0, "retry ID",
      "re-drive an unfinished or stuck saga now",
      "ordermon retry o018f2a3b4c5d6e7f", om_cmd_retry },
    { "resolve", 2, -1, 0, "resolve ID NOTE",
      "clear needs_review once handled; the note goes in the history",
      "ordermon resolve o018f2a3b4c5d6e7f 'refunded at the provider, ticket OPS-12'",
      om_cmd_resolve },
    { "stock", 1, 1, S_SET, "stock SKU [--set N]",
      "available and reserved count of a sku; --set sets available first",
      "ordermon stock SKU-123 --set 40", om_cmd_stock },
    { "payment", 1, 1, 0, "payment ID",
      "the payment adapter's own record of an order's payment",
      "ordermon payment o018f2a3b4c5d6e7f", om_cmd_payment },
    { "backup", 1, 1, 0, "backup DIR",
      "a consistent copy of the running orderd and its in-process adapters into DIR"
      " (absolute; missing or empty); restore: orderd/data_dir = DIR",
      "ordermon backup /var/backups/orderd/2026-12-06", om_cmd_backup },
    { "top", 0, 0, 0, "top",
      "live full-screen view; q quits",
      "ordermon top", om_cmd_top },
    { "keygen", 1, 1, 0, "keygen NAME",
      "write a CURVE pair NAME (public) + NAME_secret (0600), print the public key;"
      " never overwrites",
      "ordermon keygen var/keys/ops", om_cmd_keygen },
};
#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands [0])

static void
s_help (FILE *out)
{
    fprintf (out,
        "usage: ordermon [-e ENDPOINT] [-E ENDPOINT] [--json] [--timeout SECS]\n"
        "                [--cert PATH --server-key KEY] COMMAND [ARGS]\n"
        "       ordermon --help | --version | COMMAND --help\n"
        "\n"
        "The ops console of orderd: talks to its admin door (request/reply) and\n"
        "its events door (watch, top).\n"
        "\n"
        "Commands:\n");
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        fprintf (out, "  %s\n      %s\n      e.g. %s\n", s_commands [i].synopsis,
                 s_commands [i].summary, s_commands [i].example);
    fprintf (out,
        "\n"
        "Options:\n"
        "  -e, --endpoint ENDPOINT  admin door (default %s, or $ORDERMON_ENDPOINT)\n"
        "  -E, --events ENDPOINT    events door for watch and top (default %s,\n"
        "                           or $ORDERMON_EVENTS)\n"
        "  --json                   print orderd's reply as one JSON document\n"
        "                           (watch: one JSON object per line)\n"
        "  --timeout SECS           give up on orderd after SECS (default 3)\n"
        "  --no-color               no colour even on a terminal (also: NO_COLOR=1)\n"
        "  --cert PATH              talk CURVE to the admin door with our pair PATH\n"
        "                           (reads PATH_secret; from ordermon keygen;\n"
        "                           or $ORDERMON_CERT)\n"
        "  --server-key KEY         orderd's public key: 40 Z85 characters, or the\n"
        "                           path of its certificate (or $ORDERMON_SERVER_KEY).\n"
        "                           --cert and --server-key go together. The events\n"
        "                           door (watch, top) stays plain.\n"
        "\n"
        "With orderd/curve = 1, e.g.:\n"
        "  ordermon keygen var/keys/ops && cp var/keys/ops var/keys/admin_clients/\n"
        "  ordermon --cert var/keys/ops --server-key var/keys/server stats\n"
        "\n"
        "Exit status: 0 ok, 1 orderd answered with an error (code and message on\n"
        "stderr), 2 usage error, 3 orderd could not be reached within --timeout\n"
        "or refused our CURVE key.\n",
        OM_DEFAULT_ADMIN, OM_DEFAULT_EVENTS);
}

static int
s_usage_error (const s_command_t *command, const char *format, const char *detail)
{
    fprintf (stderr, "ordermon: ");
    fprintf (stderr, format, detail);
    fputc ('\n', stderr);
    if (command)
        fprintf (stderr, "usage: ordermon %s\n", command->synopsis);
    else
        fprintf (stderr, "try: ordermon --help\n");
    return OM_EXIT_USAGE;
}

const char *
om_arrow (const om_opts_t *opts)
{
    return opts->utf8? "\xe2\x86\x92": "->";
}

//  An integer option from min to max, by orderd's one parser (core/number)
static bool
s_parse_int (const char *text, int64_t min, int64_t max, int64_t *value)
{
    int64_t number;
    if (!text || !ord_number_parse (text, false, &number) || number < min || number > max)
        return false;
    *value = number;
    return true;
}

static const s_command_t *
s_find (const char *name)
{
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        if (streq (s_commands [i].name, name))
            return &s_commands [i];
    return NULL;
}

//  Splits "--key=value" so both spellings work. Returns the option name
//  (in buffer when split) and the inline value or NULL.
static const char *
s_split (const char *word, char *buffer, size_t size, const char **inline_value)
{
    *inline_value = NULL;
    const char *equals = strchr (word, '=');
    if (strncmp (word, "--", 2) != 0 || !equals)
        return word;
    snprintf (buffer, size, "%.*s", (int) (equals - word), word);
    *inline_value = equals + 1;
    return buffer;
}

int
main (int argc, char *argv [])
{
    //  Only the character type: numbers (and so JSON) stay in the C locale
    setlocale (LC_CTYPE, "");
    om_opts_t opts;
    memset (&opts, 0, sizeof opts);
    opts.endpoint = getenv ("ORDERMON_ENDPOINT");
    opts.events = getenv ("ORDERMON_EVENTS");
    if (!opts.endpoint || !*opts.endpoint)
        opts.endpoint = OM_DEFAULT_ADMIN;
    if (!opts.events || !*opts.events)
        opts.events = OM_DEFAULT_EVENTS;
    opts.timeout_ms = OM_DEFAULT_TIMEOUT;
    opts.set = -1;
    opts.utf8 = om_utf8 ();
    const char *no_color = getenv ("NO_COLOR");
    const char *term = getenv ("TERM");
    bool color = isatty (STDOUT_FILENO) && !(no_color && *no_color)
              && !(term && streq (term, "dumb"));
    bool help = false;
    const char *cert_path = getenv ("ORDERMON_CERT");
    const char *server_key = getenv ("ORDERMON_SERVER_KEY");
    if (cert_path && !*cert_path)
        cert_path = NULL;
    if (server_key && !*server_key)
        server_key = NULL;
    ordc_curve_t curve;
    memset (&curve, 0, sizeof curve);
    unsigned given = 0;
    const char *given_name [8] = { NULL };

    //  Options may come before or after the command; the rest are
    //  the command and its arguments, in order
    char **words = (char **) calloc ((size_t) argc + 1, sizeof (char *));
    if (!words)
        return OM_EXIT_ERROR;
    int nwords = 0;
    bool only_words = false;
    int rc = OM_EXIT_OK;
    for (int arg = 1; arg < argc && rc == OM_EXIT_OK; arg++) {
        char buffer [64];
        const char *inline_value;
        const char *word = s_split (argv [arg], buffer, sizeof buffer, &inline_value);
        if (only_words || word [0] != '-' || streq (word, "-")) {
            words [nwords++] = argv [arg];
            continue;
        }
        if (streq (word, "--")) {
            only_words = true;
            continue;
        }
        //  Flags without a value
        if (streq (word, "-h") || streq (word, "--help") || streq (word, "--json")
        ||  streq (word, "--no-color") || streq (word, "--deleted") || streq (word, "--version")) {
            if (inline_value)
                rc = s_usage_error (NULL, "%s takes no value", word);
            else
            if (streq (word, "--json"))
                opts.json = true;
            else
            if (streq (word, "--no-color"))
                color = false;
            else
            if (streq (word, "--deleted")) {
                given |= S_DELETED;
                given_name [4] = "--deleted";
                opts.deleted = true;
            }
            else
            if (streq (word, "--version")) {
                printf ("ordermon %s (protocol ORDP/%d)\n", ORDERMON_VERSION, ORD_WIRE_VERSION);
                free (words);
                return OM_EXIT_OK;
            }
            else
                help = true;
            continue;
        }
        //  Options with a value
        static const char *valued [] = {
            "-e", "--endpoint", "-E", "--events", "--timeout", "--status", "--user",
            "--limit", "--after", "--set", "--count", "--reason", "--cert",
            "--server-key", NULL
        };
        bool known = false;
        for (int i = 0; valued [i] && !known; i++)
            known = streq (word, valued [i]);
        if (!known) {
            rc = s_usage_error (NULL, "%s: unknown option", argv [arg]);
            break;
        }
        const char *value = inline_value;
        if (!value) {
            if (arg + 1 >= argc) {
                rc = s_usage_error (NULL, "%s needs a value", word);
                break;
            }
            value = argv [++arg];
        }
        if (streq (word, "--cert"))
            cert_path = value;
        else
        if (streq (word, "--server-key"))
            server_key = value;
        else
        if (streq (word, "-e") || streq (word, "--endpoint"))
            opts.endpoint = value;
        else
        if (streq (word, "-E") || streq (word, "--events"))
            opts.events = value;
        else
        if (streq (word, "--timeout")) {
            char *end;
            errno = 0;
            double seconds = strtod (value, &end);
            if (errno || *end || !isfinite (seconds) || seconds <= 0 || seconds > 86400)
                rc = s_usage_error (NULL, "--timeout %s: must be a number of seconds from 0.001 to 86400", value);
            else {
                opts.timeout_ms = seconds * 1000 < 1? 1: (int) (seconds * 1000);
                opts.timeout_set = true;
            }
        }
        else
        if (streq (word, "--status")) {
            given |= S_STATUS;
            given_name [0] = "--status";
            opts.status = value;
        }
        else
        if (streq (word, "--user")) {
            given |= S_USER;
            given_name [1] = "--user";
            opts.user = value;
        }
        else
        if (streq (word, "--limit")) {
            given |= S_LIMIT;
            given_name [2] = "--limit";
            if (!s_parse_int (value, 1, 500, &opts.limit))
                rc = s_usage_error (NULL, "--limit %s: must be a whole number from 1 to 500", value);
        }
        else
        if (streq (word, "--after")) {
            given |= S_AFTER;
            given_name [3] = "--after";
            opts.after = value;
        }
        else
        if (streq (word, "--set")) {
            given |= S_SET;
            given_name [5] = "--set";
            if (!s_parse_int (value, 0, ORD_STOCK_MAX, &opts.set))
                rc = s_usage_error (NULL, "--set %s: must be a whole number from 0 to 2147483647", value);
        }
        else
        if (streq (word, "--count")) {
            given |= S_COUNT;
            given_name [6] = "--count";
            if (!s_parse_int (value, 1, INT64_MAX, &opts.count))
                rc = s_usage_error (NULL, "--count %s: must be a whole number from 1", value);
        }
        else
        if (streq (word, "--reason")) {
            given |= S_REASON;
            given_name [7] = "--reason";
            opts.reason = value;
        }
    }
    if (rc) {
        free (words);
        return rc;
    }
    if (nwords == 0) {
        if (help) {
            s_help (stdout);
            free (words);
            return OM_EXIT_OK;
        }
        s_help (stderr);
        free (words);
        return OM_EXIT_USAGE;
    }
    if (streq (words [0], "help")) {
        const s_command_t *command = nwords > 1? s_find (words [1]): NULL;
        if (command)
            printf ("usage: ordermon %s\n  %s\n  e.g. %s\n", command->synopsis,
                    command->summary, command->example);
        else
            s_help (stdout);
        free (words);
        return OM_EXIT_OK;
    }
    const s_command_t *command = s_find (words [0]);
    if (!command) {
        rc = s_usage_error (NULL, "%s: unknown command", words [0]);
        free (words);
        return rc;
    }
    if (help) {
        printf ("usage: ordermon %s\n  %s\n  e.g. %s\n", command->synopsis,
                command->summary, command->example);
        free (words);
        return OM_EXIT_OK;
    }
    unsigned unwanted = given & ~command->options;
    for (int bit = 0; bit < 8 && !rc; bit++)
        if (unwanted & (1u << bit))
            rc = s_usage_error (command, "%s: not an option of this command", given_name [bit]);
    int args = nwords - 1;
    if (!rc && args < command->min_args)
        rc = s_usage_error (command, "%s: missing arguments", command->name);
    if (!rc && command->max_args >= 0 && args > command->max_args)
        rc = s_usage_error (command, "%s: too many arguments", command->name);
    //  keygen makes keys and talks to nobody
    if (!rc && command->run != om_cmd_keygen && (cert_path || server_key)) {
        rc = om_curve_load (cert_path, server_key, &curve);
        opts.curve = rc? NULL: &curve;
    }
    if (!rc) {
        opts.color = color;
        opts.argc = args;
        opts.argv = words + 1;
        //  czmq's SIGINT handler: a request in flight ends with exit 130
        zsys_init ();
        rc = command->run (&opts);
        if ((fflush (stdout) || ferror (stdout)) && rc == OM_EXIT_OK) {
            fprintf (stderr, "ordermon: cannot write the output: %s\n", strerror (errno));
            rc = OM_EXIT_ERROR;
        }
    }
    //  The secret key does not outlive its use
    memset (&curve, 0, sizeof curve);
    free (words);
    return rc;
}
