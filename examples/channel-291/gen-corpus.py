#!/usr/bin/env python3
# gen-corpus.py — regenerates corpus/ipc-events.jsonl, the recorded IPC events
# of the channel-291 example (deterministic: same output every run). Not
# needed to build or run anything; the generated file is committed. Prints
# how many events each instance matches, which tests/integration/eval.sh
# checks against `ringfence eval`.
import fnmatch, json, random, re, sys

rng = random.Random(291)
SENSORS = {"7.11.18110": 20, "7.16.18605": 21}
USERS = ["S-1-5-21-3623811015-3361044348-30300820-1001",
         "S-1-5-21-3623811015-3361044348-30300820-1002",
         "S-1-5-21-3623811015-3361044348-30300820-1107"]
BENIGN_PIPES = [r"\\.\pipe\chrome.sync.%d", r"\\.\pipe\mojo.%d.%d.1234567890",
                r"\\.\pipe\LOCAL\crashpad_%d_ABCDEF", r"\\.\pipe\spoolss",
                r"\\.\pipe\wkssvc", r"\\.\pipe\srvsvc", r"\\.\pipe\lsarpc",
                r"\\.\pipe\samr", r"\\.\pipe\GoogleCrashServices\S-1-5-18",
                r"\\.\pipe\PSHost.%d.%d.DefaultAppDomain.powershell",
                r"\\.\pipe\MSSE-server", r"\\.\pipe\postex_ssh_%d"]
BENIGN_IMAGES = [r"C:\Program Files\Google\Chrome\Application\chrome.exe",
                 r"C:\Windows\System32\svchost.exe", r"C:\Windows\explorer.exe",
                 r"C:\Windows\System32\spoolsv.exe",
                 r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                 r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"]
PARENTS = [r"C:\Windows\explorer.exe", r"C:\Windows\System32\services.exe",
           r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
           r"C:\Windows\System32\cmd.exe"]
CLIENTS = [r"C:\Program Files\Google\Chrome\Application\chrome.exe",
           r"C:\Windows\System32\svchost.exe",
           r"C:\Users\dana\AppData\Local\Temp\updater.exe",
           r"C:\Users\erik\AppData\Roaming\Zoom\bin\Zoom.exe"]

def fill(s):
    while "%d" in s:
        s = s.replace("%d", str(rng.randint(1000, 9999)), 1)
    return s

def event(sensor, pipe=None, image=None, parent=None, integrity=None, client=None):
    n = SENSORS[sensor]
    pid = rng.randint(400, 20000)
    image = image or rng.choice(BENIGN_IMAGES)
    inputs = [
        fill(pipe or rng.choice(BENIGN_PIPES)),           # 0 pipe_name
        image,                                            # 1 image_path
        '"%s"' % image,                                   # 2 command_line
        parent or rng.choice(PARENTS),                    # 3 parent_image
        rng.choice(USERS + ["S-1-5-18"]),                 # 4 user_sid
        integrity if integrity is not None else rng.choice([4096, 8192, 8192, 12288, 16384]),
        rng.choice([0, 1, 1, 2]),                         # 6 session_id
        pid,                                              # 7 pid
        rng.randint(400, 20000),                          # 8 parent_pid
        rng.choice([0x12019F, 0x120089, 0x120116]),       # 9 access_mask
        rng.choice([0, 4, 6]),                            # 10 pipe_mode
        rng.choice([1, 10, 255]),                         # 11 max_instances
        rng.choice(BENIGN_IMAGES),                        # 12 server_image
        rng.randint(400, 20000),                          # 13 server_pid
        "%064x" % rng.getrandbits(256),                   # 14 image_sha256
        rng.choice(["Microsoft Windows", "Google LLC", None]),  # 15 signer
        rng.choice([999, 0x3E7, rng.randint(100000, 999999)]),  # 16 logon_id
        rng.randint(100, 30000),                          # 17 thread_id
        rng.choice(["", "", "", "WS-0142"]),              # 18 remote_host
        rng.randint(1, 50),                               # 19 open_count
        client or rng.choice(CLIENTS[:2] * 8 + CLIENTS[2:]),  # 20 pipe_client_image
    ]
    return {"template_type": "ipc_named_pipe", "sensor_version": sensor,
            "inputs": inputs[:n]}

def ends(s, suf): return isinstance(s, str) and s.lower().endswith(suf.lower())
def glob(s, pat, nocase=False):
    if not isinstance(s, str): return False
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat)
    return re.fullmatch(rx, s, re.S | (re.I if nocase else 0)) is not None

def inp(ev, i): return ev["inputs"][i] if i < len(ev["inputs"]) else None
MATCHERS = {
    "c291-0305-msse-beacon-pipe": lambda e: glob(inp(e, 0), r"\\.\pipe\MSSE-*-server"),
    "c291-0408-postex-rundll32": lambda e: glob(inp(e, 0), r"\\.\pipe\postex_*", True)
        and ends(inp(e, 1), r"\rundll32.exe"),
    "c291-0416-remote-exec-service": lambda e: isinstance(inp(e, 0), str)
        and re.search(r"^\\\\\.\\pipe\\(remcom_communicaton|paexec|csexecsvc)", inp(e, 0), re.I)
        is not None and inp(e, 5) == 16384,
    "c291-0424-office-lsa-pipes": lambda e: ends(inp(e, 3), r"\winword.exe")
        and inp(e, 0) in (r"\\.\pipe\lsarpc", r"\\.\pipe\samr", r"\\.\pipe\netlogon"),
    "c291-0719-appdata-pipe-client": lambda e: isinstance(inp(e, 0), str)
        and inp(e, 0).startswith("\\\\.\\pipe\\")
        and glob(inp(e, 20), r"C:\Users\*\AppData\*.exe", True),
}

events = []
for k in range(200):
    sensor = "7.11.18110" if k % 2 == 0 else "7.16.18605"
    r = rng.random()
    if r < 0.06:
        events.append(event(sensor, pipe=r"\\.\pipe\MSSE-%d-server"))
    elif r < 0.11:
        events.append(event(sensor, pipe=r"\\.\pipe\postex_%d",
                            image=r"C:\Windows\SysWOW64\RUNDLL32.EXE"))
    elif r < 0.15:
        events.append(event(sensor, pipe=rng.choice([r"\\.\pipe\RemCom_communicaton",
                                                     r"\\.\pipe\PAExec-%d-WS01"]),
                            image=r"C:\Windows\RemComSvc.exe",
                            integrity=rng.choice([16384, 16384, 12288])))
    elif r < 0.19:
        events.append(event(sensor, pipe=rng.choice([r"\\.\pipe\lsarpc", r"\\.\pipe\samr"]),
                            parent=r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"))
    else:
        events.append(event(sensor))

with open("corpus/ipc-events.jsonl", "w") as f:
    for e in events:
        f.write(json.dumps(e, separators=(",", ":")) + "\n")

for sensor in SENSORS:
    evs = [e for e in events if e["sensor_version"] == sensor]
    for name, ids in (("v4", list(MATCHERS)[:4]), ("v5", list(MATCHERS))):
        lines = [i + 1 for i, e in enumerate(events) if e["sensor_version"] == sensor
                 and any(MATCHERS[x](e) for x in ids)]
        per = {x: sum(1 for e in evs if MATCHERS[x](e)) for x in ids}
        print(sensor, name, "events", len(evs), "matching", len(lines), per, file=sys.stderr)
