/*
 * cmd_init.c — `ringfence init DIR`: create a content workspace with one
 * example of each document (a template type, a sensor manifest, a channel
 * with embedded tests, and a small event corpus) that validates as it is,
 * so an author starts from something that works and changes it.
 *
 * It refuses an existing non-empty DIR: init never overwrites anyone's work.
 * Files are written with rf_file_write_atomic.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <dirent.h>

#include "common.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence init DIR\n"
    "\n"
    "Create a content workspace in DIR (created if missing; refused if it\n"
    "exists and is not empty) with one example of each document:\n"
    "  types/process_start.yaml     a TemplateType with six fields\n"
    "  sensors/example-1.0.0.yaml   a SensorManifest supplying all six inputs\n"
    "  channels/example.yaml        a Channel with two instances and tests\n"
    "  corpus/events.jsonl          recorded events for the execution stage\n"
    "The workspace validates as created.\n"
    "\n"
    "Options:\n"
    "  -h, --help   this help\n"
    "\n"
    "Exit codes: 0 created, 2 usage or I/O error (DIR not empty, cannot write).\n"
    "\n"
    "Example:\n"
    "  ringfence init my-content && cd my-content &&\n"
    "      ringfence validate channels/example.yaml\n";

static const char type_yaml[] =
    "# A Template Type: what one sensor feature can look at. A field's index is\n"
    "# its position in the list, from 0. Sensor manifests say how many of these\n"
    "# inputs each sensor build actually supplies.\n"
    "kind: TemplateType\n"
    "name: process_start\n"
    "version: 1\n"
    "fields:\n"
    "  - {name: image_path,   type: string}   # 0\n"
    "  - {name: command_line, type: string}   # 1\n"
    "  - {name: parent_image, type: string}   # 2\n"
    "  - {name: user_name,    type: string}   # 3\n"
    "  - {name: pid,          type: int}      # 4\n"
    "  - {name: parent_pid,   type: int}      # 5\n";

static const char sensor_yaml[] =
    "# A Sensor Manifest: what one sensor build supplies, per template type.\n"
    "# The validator checks every channel against every manifest here.\n"
    "kind: SensorManifest\n"
    "sensor_version: \"1.0.0\"\n"
    "template_types:\n"
    "  - {name: process_start, version: 1, inputs: 6}\n";

static const char channel_yaml[] =
    "# A Channel: template instances for one template type, with their tests.\n"
    "# A field an instance does not name is a wildcard.\n"
    "kind: Channel\n"
    "channel: 100\n"
    "template_type: process_start\n"
    "template_version: 1\n"
    "content_version: 1\n"
    "instances:\n"
    "  - id: encoded-powershell\n"
    "    action: detect\n"
    "    severity: high\n"
    "    match:\n"
    "      image_path:   {suffix: '\\powershell.exe', nocase: true}\n"
    "      command_line: {regex: ' -(e|enc|encodedcommand) [A-Za-z0-9+/=]{20}', nocase: true}\n"
    "    tests:\n"
    "      - event:\n"
    "          image_path: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'\n"
    "          command_line: 'powershell.exe -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA'\n"
    "        expect: match\n"
    "      - event:\n"
    "          image_path: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'\n"
    "          command_line: 'powershell.exe -File build.ps1'\n"
    "        expect: no_match\n"
    "  - id: office-spawns-system-binary\n"
    "    action: block\n"
    "    severity: critical\n"
    "    match:\n"
    "      parent_image: {suffix: '\\winword.exe', nocase: true}\n"
    "      image_path:   {glob: 'C:\\Windows\\System32\\*.exe', nocase: true}\n"
    "      parent_pid:   {range: [1, 4294967295]}\n"
    "    tests:\n"
    "      - event:\n"
    "          parent_image: 'C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE'\n"
    "          image_path: 'C:\\Windows\\System32\\cmd.exe'\n"
    "          parent_pid: 4412\n"
    "        expect: match\n"
    "      - event:\n"
    "          parent_image: 'C:\\Windows\\explorer.exe'\n"
    "          image_path: 'C:\\Windows\\System32\\cmd.exe'\n"
    "          parent_pid: 4412\n"
    "        expect: no_match\n";

static const char corpus_jsonl[] =
    "{\"template_type\":\"process_start\",\"sensor_version\":\"1.0.0\",\"inputs\":"
    "[\"C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe\","
    "\"powershell.exe -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA\","
    "\"C:\\\\Windows\\\\explorer.exe\",\"alice\",7310,4412]}\n"
    "{\"template_type\":\"process_start\",\"sensor_version\":\"1.0.0\",\"inputs\":"
    "[\"C:\\\\Windows\\\\System32\\\\cmd.exe\",\"cmd.exe /c whoami\","
    "\"C:\\\\Program Files\\\\Microsoft Office\\\\root\\\\Office16\\\\WINWORD.EXE\","
    "\"bob\",8120,4412]}\n"
    "{\"template_type\":\"process_start\",\"sensor_version\":\"1.0.0\",\"inputs\":"
    "[\"C:\\\\Program Files\\\\Git\\\\bin\\\\git.exe\",\"git status\","
    "\"C:\\\\Windows\\\\System32\\\\cmd.exe\",\"carol\",9001,8120]}\n"
    "{\"template_type\":\"process_start\",\"sensor_version\":\"1.0.0\",\"inputs\":"
    "[\"C:\\\\Windows\\\\notepad.exe\",\"notepad.exe notes.txt\","
    "\"C:\\\\Windows\\\\explorer.exe\",\"alice\",9120,4000]}\n";

static const struct {
    const char *path;
    const char *text;
} files[] = {
    {"types/process_start.yaml", type_yaml},
    {"sensors/example-1.0.0.yaml", sensor_yaml},
    {"channels/example.yaml", channel_yaml},
    {"corpus/events.jsonl", corpus_jsonl},
};

static const char *const subdirs[] = {"types", "sensors", "channels", "corpus"};

/* 1 if dir exists and has entries other than . and .., 0 if empty, -1 on error. */
static int dir_not_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            found = 1;
            break;
        }
    }
    closedir(d);
    return found;
}

/* DIR/NAME into buf; returns 0, or RF_EXIT_USAGE when it does not fit. */
static int join(char *buf, size_t n, const char *dir, const char *name)
{
    int w = snprintf(buf, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n) {
        cli_error("%s: path too long", dir);
        return RF_EXIT_USAGE;
    }
    return 0;
}

int cmd_init(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    (void)workspace;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': return cli_help(usage);
        default: return cli_option_error("init", argv, c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("init", "expected one DIR, got %d arguments", argc - optind);
    const char *dir = argv[optind];
    if (!dir[0])
        return cli_usage_error("init", "DIR is empty");

    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            cli_error("%s: exists and is not a directory", dir);
            return RF_EXIT_USAGE;
        }
        int ne = dir_not_empty(dir);
        if (ne < 0) {
            cli_error("%s: cannot read directory: %s", dir, strerror(errno));
            return RF_EXIT_USAGE;
        }
        if (ne) {
            cli_error("%s: directory is not empty; init creates a workspace only in a new "
                      "or empty directory",
                      dir);
            return RF_EXIT_USAGE;
        }
    } else if (errno != ENOENT) {
        cli_error("%s: %s", dir, strerror(errno));
        return RF_EXIT_USAGE;
    } else if (mkdir(dir, 0755) != 0) {
        cli_error("%s: cannot create directory: %s", dir, strerror(errno));
        return RF_EXIT_USAGE;
    }

    char path[4096];
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        if (join(path, sizeof(path), dir, subdirs[i]))
            return RF_EXIT_USAGE;
        if (mkdir(path, 0755) != 0) {
            cli_error("%s: cannot create directory: %s", path, strerror(errno));
            return RF_EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (join(path, sizeof(path), dir, files[i].path))
            return RF_EXIT_USAGE;
        rf_err err;
        rf_err_clear(&err);
        if (rf_file_write_atomic(path, files[i].text, strlen(files[i].text), 0644, &err) !=
            RF_OK) {
            cli_error_rf(&err);
            return RF_EXIT_USAGE;
        }
    }
    printf("created workspace ");
    cli_puts_safe(stdout, dir);
    printf("\n");
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        printf("  %s\n", files[i].path);
    printf("next: cd ");
    cli_puts_safe(stdout, dir);
    printf(" && ringfence validate channels/example.yaml\n");
    return RF_EXIT_OK;
}
