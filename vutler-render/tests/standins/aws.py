#!/usr/bin/env python3
"""A stand-in for the AWS CLI's S3 commands that keeps the objects of the buckets.

Objects live as files under `$FAKE_DOCKER_DIR/s3/<bucket>/<key>`, with what each upload asked
for (storage class, server-side encryption) in `s3.json`. Modelled: the global options
`--endpoint-url` and `--region` (recorded in `s3.json` too); `s3 cp` of a file to `s3://` and
back, `s3 ls` of a prefix (`DATE TIME SIZE NAME` lines; exit 1 when nothing is listed, as the
AWS CLI), `s3 rm`, and `s3api head-object --bucket B --key K --query ContentLength --output
text`. `FAKE_S3_FAIL=cp` makes uploads fail, `FAKE_S3_SHORT=1` stores one byte less than sent
(a corrupted upload). Every call is appended to `calls.log`; a credential in the arguments fails.
"""
import datetime
import json
import os
import shutil
import sys

DIR = os.environ["FAKE_DOCKER_DIR"]
ROOT = os.path.join(DIR, "s3")
META = os.path.join(DIR, "s3.json")


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def meta():
    try:
        with open(META, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {"objects": {}, "calls": []}


def save(m):
    with open(META, "w", encoding="utf-8") as f:
        json.dump(m, f, indent=1)


def split(url):
    if not url.startswith("s3://"):
        fail(f"not an S3 URL: {url}", 252)
    bucket, _, key = url[len("s3://"):].partition("/")
    return bucket, key


def main():
    args = sys.argv[1:]
    with open(os.path.join(DIR, "calls.log"), "a", encoding="utf-8") as f:
        f.write("aws " + " ".join(args) + "\n")
    for secret in (os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_ACCESS_KEY_ID")):
        if secret and any(secret in a for a in args):
            fail("a credential was passed on the command line")
    m = meta()
    options, rest = {}, []
    while args:
        a = args.pop(0)
        if a in ("--endpoint-url", "--region", "--storage-class", "--sse", "--sse-kms-key-id",
                 "--bucket", "--key", "--query", "--output"):
            options[a] = args.pop(0)
        elif a.startswith("--"):
            options[a] = True
        else:
            rest.append(a)
    m["calls"].append({k: v for k, v in options.items() if k in ("--endpoint-url", "--region")})
    if rest[:2] == ["s3", "cp"]:
        src, dst = rest[2], rest[3]
        if dst.startswith("s3://"):
            if os.environ.get("FAKE_S3_FAIL") == "cp":
                fail("upload failed: An error occurred (AccessDenied) when calling the PutObject operation")
            bucket, key = split(dst)
            path = os.path.join(ROOT, bucket, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(src, "rb") as f:
                body = f.read()
            if os.environ.get("FAKE_S3_SHORT"):
                body = body[:-1]
            with open(path, "wb") as f:
                f.write(body)
            m["objects"][f"{bucket}/{key}"] = {
                k: options.get(k) for k in ("--storage-class", "--sse", "--sse-kms-key-id")
            }
        else:
            bucket, key = split(src)
            path = os.path.join(ROOT, bucket, key)
            if not os.path.isfile(path):
                fail("fatal error: An error occurred (404) when calling the HeadObject operation: Not Found")
            shutil.copyfile(path, dst)
    elif rest[:2] == ["s3", "ls"]:
        bucket, prefix = split(rest[2])
        folder = os.path.join(ROOT, bucket, prefix)
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        if not names:
            save(m)
            sys.exit(1)
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                print(f"{'PRE':>30} {name}/")
                continue
            when = datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{when} {os.path.getsize(path):>10} {name}")
    elif rest[:2] == ["s3", "rm"]:
        bucket, key = split(rest[2])
        path = os.path.join(ROOT, bucket, key)
        if os.path.isfile(path):
            os.remove(path)
        m["objects"].pop(f"{bucket}/{key}", None)
    elif rest[:2] == ["s3api", "head-object"]:
        path = os.path.join(ROOT, options["--bucket"], options["--key"])
        if not os.path.isfile(path):
            fail("An error occurred (404) when calling the HeadObject operation: Not Found", 254)
        if options.get("--query") != "ContentLength" or options.get("--output") != "text":
            fail("the aws stand-in only answers --query ContentLength --output text")
        print(os.path.getsize(path))
    else:
        fail(f"the aws stand-in does not model `aws {' '.join(rest)}`")
    save(m)


main()
