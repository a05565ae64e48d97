"""mailnode's command line and config refusal (SPEC §5): a bad config file is
refused at start with exit 2 and "FILE:LINE: reason" on stderr, before any
service starts; --version and --help answer and exit 0.
"""
import os
import re
import subprocess

import pytest

from conftest import MAILNODE_BIN, next_address

ADDRESS = next_address()


def run(*args):
    return subprocess.run([MAILNODE_BIN] + list(args), capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def good_config(data_dir):
    return ("[node]\n"                      # 1
            "name = cfgnode\n"              # 2
            "data_dir = %s\n"               # 3
            "[listen]\n"                    # 4
            "address = %s\n"                # 5
            "http_port = 0\n"               # 6
            "https_port = 0\n"              # 7
            % (data_dir, ADDRESS))


# (what is wrong, text to append or transform, line the error must name)
BAD = [
    ("unknown key", lambda t: t.replace("name = cfgnode\n", "name = cfgnode\nfrobs = 3\n"), 3),
    ("unknown section", lambda t: t + "[bogus]\nkey = 1\n", 8),
    ("bad port", lambda t: t.replace("http_port = 0", "http_port = 70000"), 6),
    ("port not a number", lambda t: t.replace("https_port = 0", "https_port = web"), 7),
    ("bad address", lambda t: t.replace("address = %s" % ADDRESS, "address = 127.0.0"), 5),
    ("bad size", lambda t: t + "[smtp]\nmax_message_size = huge\n", 9),
]


@pytest.mark.parametrize("what,transform,line", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_with_file_and_line(tmp_path, what, transform, line):
    path = str(tmp_path / "node.ini")
    data_dir = str(tmp_path / "data")
    with open(path, "w") as f:
        f.write(transform(good_config(data_dir)))
    r = run("--config", path)
    assert r.returncode == 2, (what, r.returncode, r.stderr)
    assert re.search(r"(^|\s)%s:%d: \S" % (re.escape(path), line), r.stderr), r.stderr
    assert not os.path.exists(data_dir), "refused config must not create data_dir"


def test_missing_data_dir_is_refused(tmp_path):
    path = str(tmp_path / "node.ini")
    with open(path, "w") as f:
        f.write("[node]\nname = cfgnode\n[listen]\naddress = %s\n" % ADDRESS)
    r = run("--config", path)
    assert r.returncode == 2
    assert re.search(r"(^|\s)%s:\d+: .*data_dir" % re.escape(path), r.stderr), r.stderr


def test_missing_config_file_is_refused(tmp_path):
    path = str(tmp_path / "nonexistent.ini")
    r = run("--config", path)
    assert r.returncode == 2
    assert path in r.stderr


def test_no_arguments_is_a_usage_error():
    r = run()
    assert r.returncode == 2
    assert "--config" in r.stderr


def test_unknown_option_is_a_usage_error():
    r = run("--frobnicate")
    assert r.returncode == 2
    assert "--config" in r.stderr


def test_version():
    r = run("--version")
    assert (r.returncode, r.stdout) == (0, "mailnode 0.1.0\n")


def test_help():
    r = run("--help")
    assert r.returncode == 0
    assert "--config" in r.stdout
