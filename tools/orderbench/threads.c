/*  threads: the CPU of each of a process's threads, from
    /proc/PID/task/TID/schedstat (else stat), read before and after a run
    and grouped by thread name (orderd names its threads: ord-writer,
    ord-actor, ad-<plugin>, and ZeroMQ names its own ZMQbg/IO/N). A thread
    that ended during the run took its CPU with it: what the process used
    beyond its live threads is reported as ended threads. */
#include <ctype.h>
#include <dirent.h>
#include <unistd.h>
#include "orderbench.h"

//  utime + stime of one thread, and its name; false if it is gone
static bool
s_task_read (int pid, int tid, ob_task_t *task)
{
    char path [96], stat [1024];
    snprintf (path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    size_t size = fread (stat, 1, sizeof stat - 1, file);
    fclose (file);
    stat [size] = 0;
    //  The name sits between the first '(' and the last ')' (it may hold both)
    char *open = strchr (stat, '(');
    char *close = strrchr (stat, ')');
    if (!open || !close || close < open)
        return false;
    size_t length = (size_t) (close - open - 1);
    if (length >= sizeof task->name)
        length = sizeof task->name - 1;
    memcpy (task->name, open + 1, length);
    task->name [length] = 0;
    unsigned long long utime = 0, stime = 0;
    if (sscanf (close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                &utime, &stime) != 2)
        return false;
    task->tid = tid;
    task->cpu_seconds = (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
    //  A thread's utime + stime come from tick sampling, which misses
    //  threads that run in bursts shorter than a tick (the order actors:
    //  28 ticks where the scheduler counted 1.29 s); the scheduler's own
    //  run time (schedstat, ns) is exact, and used when the kernel has it
    snprintf (path, sizeof path, "/proc/%d/task/%d/schedstat", pid, tid);
    file = fopen (path, "r");
    unsigned long long run_ns;
    if (file && fscanf (file, "%llu", &run_ns) == 1)
        task->cpu_seconds = (double) run_ns / 1e9;
    if (file)
        fclose (file);
    return true;
}

int
ob_tasks_read (int pid, ob_tasks_t *tasks)
{
    memset (tasks, 0, sizeof *tasks);
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", pid);
    DIR *dir = pid > 0? opendir (path): NULL;
    if (!dir)
        return -1;
    int capacity = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (!isdigit ((unsigned char) entry->d_name [0]))
            continue;
        if (tasks->count == capacity) {
            capacity = capacity? capacity * 2: 64;
            ob_task_t *grown = (ob_task_t *) realloc (tasks->tasks,
                                                      (size_t) capacity * sizeof (ob_task_t));
            if (!grown) {
                closedir (dir);
                ob_tasks_free (tasks);
                return -1;
            }
            tasks->tasks = grown;
        }
        if (s_task_read (pid, atoi (entry->d_name), &tasks->tasks [tasks->count]))
            tasks->count++;
    }
    closedir (dir);
    return 0;
}

void
ob_tasks_free (ob_tasks_t *tasks)
{
    free (tasks->tasks);
    tasks->tasks = NULL;
    tasks->count = 0;
}

//  ZMQbg/IO/0 and ZMQbg/IO/1 are one group: a trailing "/N" becomes "/*"
static void
s_group_name (const char *name, char *group, size_t size)
{
    snprintf (group, size, "%s", name);
    char *slash = strrchr (group, '/');
    if (slash && slash [1] && strspn (slash + 1, "0123456789") == strlen (slash + 1)
    &&  (size_t) (slash - group) + 3 <= size)
        strcpy (slash + 1, "*");
}

static double
s_before (const ob_tasks_t *before, const ob_task_t *task)
{
    for (int i = 0; i < before->count; i++)
        if (before->tasks [i].tid == task->tid && streq (before->tasks [i].name, task->name))
            return before->tasks [i].cpu_seconds;
    return 0;                   //  born during the run
}

int
ob_thread_groups (const ob_tasks_t *before, const ob_tasks_t *after,
                  ob_thread_group_t *groups, int max_groups)
{
    int count = 0;
    for (int i = 0; i < after->count; i++) {
        const ob_task_t *task = &after->tasks [i];
        double used = task->cpu_seconds - s_before (before, task);
        char name [sizeof groups->name];
        s_group_name (task->name, name, sizeof name);
        int group = 0;
        while (group < count && !streq (groups [group].name, name))
            group++;
        if (group == count) {
            if (count == max_groups)
                continue;
            memset (&groups [count], 0, sizeof groups [count]);
            snprintf (groups [count].name, sizeof groups [count].name, "%s", name);
            count++;
        }
        groups [group].threads++;
        groups [group].cpu_seconds += used;
        if (used > groups [group].busiest_seconds)
            groups [group].busiest_seconds = used;
    }
    //  Largest first
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && groups [j].cpu_seconds > groups [j - 1].cpu_seconds; j--) {
            ob_thread_group_t swap = groups [j];
            groups [j] = groups [j - 1];
            groups [j - 1] = swap;
        }
    return count;
}
