/*  ordermon: the ops console of orderd. What every command gets (the parsed
    command line) and what it returns (an exit status). */
#ifndef OM_ORDERMON_H_INCLUDED
#define OM_ORDERMON_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "orderd/client.h"

#define OM_EXIT_OK           0     /* done */
#define OM_EXIT_ERROR        1     /* orderd answered with an error */
#define OM_EXIT_USAGE        2     /* the command line is wrong */
#define OM_EXIT_UNREACHABLE  3     /* no answer within --timeout */
#define OM_EXIT_INTERRUPTED  130   /* SIGINT during a request */

#define OM_DEFAULT_ADMIN     "tcp://127.0.0.1:8792"
#define OM_DEFAULT_EVENTS    "tcp://127.0.0.1:8793"
#define OM_DEFAULT_TIMEOUT   3000  /* ms */
#define OM_BACKUP_TIMEOUT    600000    /* ms: backup without --timeout */

typedef struct {
    //  Global options
    const char *endpoint;          //  -e: the admin door
    const char *events;            //  -E: the events door
    bool json;                     //  --json
    int timeout_ms;                //  --timeout
    bool timeout_set;              //  ...given on the command line
    bool color;                    //  stdout is a terminal and colour is wanted
    bool utf8;                     //  the locale can show UTF-8
    const ordc_curve_t *curve;       //  --cert and --server-key; NULL: plain
    //  Command options (each only where the command takes it)
    const char *status;            //  --status
    const char *user;              //  --user
    int64_t limit;                 //  --limit, 0 when not given
    const char *after;             //  --after
    bool deleted;                  //  --deleted
    int64_t set;                   //  --set, -1 when not given
    int64_t count;                 //  --count, 0: until SIGINT
    const char *reason;            //  --reason
    //  Arguments after the command name
    int argc;
    char **argv;
} om_opts_t;

/*  Request/reply commands (commands.c). */
int om_cmd_health (const om_opts_t *opts);
int om_cmd_stats (const om_opts_t *opts);
int om_cmd_list (const om_opts_t *opts);
int om_cmd_show (const om_opts_t *opts);
int om_cmd_history (const om_opts_t *opts);
int om_cmd_advance (const om_opts_t *opts);
int om_cmd_retry (const om_opts_t *opts);
int om_cmd_resolve (const om_opts_t *opts);
int om_cmd_stock (const om_opts_t *opts);
int om_cmd_payment (const om_opts_t *opts);
int om_cmd_backup (const om_opts_t *opts);

/*  CURVE keys (keys.c): `keygen NAME` writes a pair; om_curve_load reads
    --cert and --server-key into *curve, or prints why not and returns
    OM_EXIT_USAGE. */
int om_cmd_keygen (const om_opts_t *opts);
int om_curve_load (const char *cert_path, const char *server_key, ordc_curve_t *curve);

/*  The events door (watch.c) and the live view (top.c). */
int om_cmd_watch (const om_opts_t *opts);
int om_cmd_top (const om_opts_t *opts);

/*  "-> " or "→" as the locale allows. */
const char *om_arrow (const om_opts_t *opts);

#endif
