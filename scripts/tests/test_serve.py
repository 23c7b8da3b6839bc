"""`unclip-run serve` driven by the official `openai` Python client (and raw HTTP where the client cannot go).

Each test starts the real server binary on the built-in weights on 127.0.0.1 (a free port), as a user would:
generations (b64_json and url, each size), the same pixels as `unclip-run generate --seed`, edits with a mask and with
the picture's alpha, variations, streaming with partial images, every error case with status, type and param, the
API key, moderation (list and command), 429 under a flood with --max-queue 1, a cancelled request freeing its slot,
and SIGTERM. Needs the release binary (`swift build -c release`; scripts/test.sh builds it) and `pip install openai
pillow numpy`.
"""
import base64
import io
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

openai = pytest.importorskip("openai") if os.environ.get("CI") is None else __import__("openai")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("UNCLIP_RUN", os.path.join(ROOT, ".build", "release", "unclip-run"))
WEIGHTS = os.path.join(ROOT, "weights", "unclip-builtin.safetensors")
FAST = {"prior_steps": 5, "decoder_steps": 5, "super_res_steps": 3}


class Server:
    """A running `unclip-run serve`: its base URL, a client, and its log."""

    def __init__(self, *args, env=None):
        if not os.path.exists(BINARY):
            pytest.fail(f"{BINARY} is missing: run `swift build -c release` first")
        self.log_path = f"/tmp/unclip-serve-test-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BINARY, "serve", "--port", "0", "--weights", WEIGHTS, *args], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, f"server did not start: {line!r} {self.log_text()}"
        self.base = line.split("listening on ")[1].split()[0]            # http://127.0.0.1:PORT/v1
        self.port = int(self.base.split(":")[2].split("/")[0])
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base.replace("/v1", "/health"))
                break
            except urllib.error.HTTPError:
                time.sleep(0.05)

    def client(self, key="unused", retries=0, **kw):
        return openai.OpenAI(base_url=self.base, api_key=key, max_retries=retries, **kw)

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def health(self):
        return json.loads(urllib.request.urlopen(self.base.replace("/v1", "/health")).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.log.close()
        os.remove(self.log_path)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def picture(b64):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def png_bytes(array, mode):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


def source(side=256, hole=None):
    """An RGBA picture: blue with a yellow band; alpha 0 inside `hole` (x0, y0, x1, y1)."""
    a = np.zeros((side, side, 4), np.uint8)
    a[..., 2] = 200
    a[side // 8: side // 4, :, :3] = [230, 220, 40]
    a[..., 3] = 255
    if hole:
        x0, y0, x1, y1 = hole
        a[y0:y1, x0:x1, 3] = 0
    return a


def test_generate_b64_and_url_at_each_size(server):
    client = server.client()
    for size, side in [("256x256", 256), ("512x512", 512), ("1024x1024", 1024)]:
        r = client.images.generate(model="dall-e-2", prompt="a red circle on a blue background", size=size,
                                   response_format="b64_json", extra_body={"seed": 11, **FAST})
        assert isinstance(r.created, int) and len(r.data) == 1
        assert picture(r.data[0].b64_json).shape == (side, side, 3)
        r = client.images.generate(prompt="a red circle on a blue background", size=size, extra_body={"seed": 11, **FAST})
        assert r.data[0].url.startswith(server.base.replace("/v1", "/v1/images/files/"))
        with urllib.request.urlopen(r.data[0].url) as f:
            assert f.headers["Content-Type"] == "image/png"
            assert Image.open(io.BytesIO(f.read())).size == (side, side)
    r = client.images.generate(prompt="a red circle", n=3, size="256x256", response_format="b64_json", extra_body=FAST)
    assert len(r.data) == 3


def test_same_seed_same_pixels_as_the_cli(server, tmp_path):
    out = tmp_path / "cli.png"
    subprocess.run([BINARY, "generate", "--weights", WEIGHTS, "--seed", "1234", "-n", "2", "--output", str(out), "--quiet",
                    "a yellow square on a green background"], check=True, capture_output=True)
    r = server.client().images.generate(prompt="a yellow square on a green background", n=2, size="256x256",
                                        response_format="b64_json", extra_body={"seed": 1234})
    for k in range(2):
        cli = np.asarray(Image.open(tmp_path / f"cli-{k + 1}.png").convert("RGB"))
        assert np.array_equal(picture(r.data[k].b64_json), cli), f"image {k} differs from the CLI's"


def test_edit_with_a_mask_and_with_the_alpha_keeps_the_rest(server, tmp_path):
    client = server.client()
    hole = (64, 96, 192, 224)
    opaque, holed = source(), source(hole=hole)
    mask = np.full((256, 256, 4), 255, np.uint8)
    mask[hole[1]:hole[3], hole[0]:hole[2], 3] = 0
    (tmp_path / "source.png").write_bytes(png_bytes(opaque, "RGBA"))
    (tmp_path / "mask.png").write_bytes(png_bytes(mask, "RGBA"))
    (tmp_path / "holed.png").write_bytes(png_bytes(holed, "RGBA"))
    outside = np.ones((256, 256), bool)
    outside[hole[1]:hole[3], hole[0]:hole[2]] = False
    for kwargs in [{"image": open(tmp_path / "source.png", "rb"), "mask": open(tmp_path / "mask.png", "rb")},
                   {"image": open(tmp_path / "holed.png", "rb")}]:
        r = client.images.edit(prompt="a red circle", size="256x256", response_format="b64_json", extra_body={"seed": 2, **FAST},
                               **kwargs)
        out = picture(r.data[0].b64_json)
        assert np.array_equal(out[outside], opaque[..., :3][outside]), "pixels outside the mask changed"
        assert (out[~outside] != opaque[..., :3][~outside]).any(axis=-1).mean() > 0.5, "the masked area was not regenerated"
    # A 512² input is edited at the model's size and pasted back at 512²; the result is delivered at the asked size.
    big = png_bytes(np.asarray(Image.fromarray(holed, "RGBA").resize((512, 512), Image.NEAREST)), "RGBA")
    r = client.images.edit(image=("big.png", big, "image/png"), prompt="a red circle", size="1024x1024", response_format="b64_json",
                           extra_body=FAST)
    assert picture(r.data[0].b64_json).shape == (1024, 1024, 3)


def test_variation(server):
    client = server.client()
    image = png_bytes(source()[..., :3], "RGB")
    r = client.images.create_variation(image=image, n=2, size="512x512", response_format="b64_json",
                                       extra_body={"decoder_steps": 5, "super_res_steps": 3})
    assert [picture(d.b64_json).shape for d in r.data] == [(512, 512, 3)] * 2


def test_streaming_with_partial_images(server):
    client = server.client()
    stream = client.images.generate(prompt="a red circle", size="256x256", stream=True, partial_images=3,
                                    extra_body={"seed": 77, **FAST})
    events = list(stream)
    assert [e.type for e in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:3]] == [0, 1, 2]
    assert all(picture(e.b64_json).shape == (256, 256, 3) for e in events)
    plain = client.images.generate(prompt="a red circle", size="256x256", response_format="b64_json", extra_body={"seed": 77, **FAST})
    assert np.array_equal(picture(events[-1].b64_json), picture(plain.data[0].b64_json))
    holed = png_bytes(source(hole=(0, 0, 128, 128)), "RGBA")
    events = list(client.images.edit(image=holed, prompt="a red circle", size="256x256", stream=True, partial_images=1,
                                     extra_body=FAST))
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]


def expect(error_class, status, param, call, code=None):
    with pytest.raises(error_class) as info:
        call()
    e = info.value
    assert e.status_code == status, e
    assert set(e.body) == {"message", "type", "param", "code"}, e.body
    assert e.body["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    assert e.body["param"] == param, e.body
    if code:
        assert e.body["code"] == code, e.body
    return e


def test_every_error_case(server):
    c = server.client()
    gen = c.images.generate
    expect(openai.BadRequestError, 400, "size", lambda: gen(prompt="x", size="300x300"))
    expect(openai.BadRequestError, 400, "n", lambda: gen(prompt="x", n=11))
    expect(openai.BadRequestError, 400, "n", lambda: gen(prompt="x", n=0))
    expect(openai.BadRequestError, 400, "prompt", lambda: gen(prompt="a" * 1001))
    expect(openai.BadRequestError, 400, "model", lambda: gen(prompt="x", model="dall-e-3"))
    expect(openai.BadRequestError, 400, "response_format", lambda: gen(prompt="x", response_format="jpeg"))
    expect(openai.BadRequestError, 400, "decoder_steps", lambda: gen(prompt="x", extra_body={"decoder_steps": 0}))
    expect(openai.BadRequestError, 400, "prompt", lambda: c.post("/images/generations", body={"n": 1}, cast_to=object))
    square = png_bytes(source(64, hole=(0, 0, 8, 8)), "RGBA")
    expect(openai.BadRequestError, 400, "image", lambda: c.images.edit(image=b"GIF89a....", prompt="x"))
    expect(openai.BadRequestError, 400, "image", lambda: c.images.edit(image=png_bytes(source(64)[:32], "RGBA"), prompt="x"))
    expect(openai.BadRequestError, 400, "image", lambda: c.images.edit(image=png_bytes(source(64), "RGBA"), prompt="x"))
    expect(openai.BadRequestError, 400, "mask", lambda: c.images.edit(image=square, mask=png_bytes(source(32), "RGBA"), prompt="x"))
    expect(openai.BadRequestError, 400, "image",
           lambda: c.images.edit(image=b"\x89PNG\r\n\x1a\n" + bytes(4 << 20), prompt="x"))
    expect(openai.BadRequestError, 400, "image", lambda: c.images.create_variation(image=png_bytes(source(64)[:32], "RGBA")))
    expect(openai.NotFoundError, 404, None, lambda: c.post("/chat/completions", body={}, cast_to=object))
    # What the client cannot send: a malformed JSON body, another method, a body over the limit.
    for body, ctype, status in [(b"{\"prompt\": ", "application/json", 400), (b"x" * ((9 << 20) + 1), "application/json", 413)]:
        req = urllib.request.Request(server.base + "/images/generations", data=body, headers={"Content-Type": ctype})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req)
        assert info.value.code == status
        assert json.loads(info.value.read())["error"]["type"] == "invalid_request_error"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.base + "/images/generations")
    assert info.value.code == 405 and info.value.headers["Allow"] == "POST"
    assert server.proc.poll() is None, "the server survived every bad request"


def test_api_key_and_moderation():
    list_path = f"/tmp/unclip-moderation-{os.getpid()}.txt"
    with open(list_path, "w") as f:
        f.write("# refused\nforbidden thing\n")
    s = Server("--api-key", "sk-test-123", "--moderation-list", list_path,
               "--moderation-command", "grep -qi dragon && echo deny || echo allow")
    try:
        expect(openai.AuthenticationError, 401, None, lambda: s.client(key="wrong").models.list(), code="invalid_api_key")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(s.base + "/models")
        assert info.value.code == 401
        good = s.client(key="sk-test-123")
        assert {m.id for m in good.models.list()} == {"dall-e-2", "unclip-builtin"}
        for prompt in ["a FORBIDDEN thing", "a small dragon"]:
            expect(openai.BadRequestError, 400, None, lambda: good.images.generate(prompt=prompt, size="256x256"),
                   code="content_policy_violation")
        assert good.images.generate(prompt="a red circle", size="256x256", extra_body=FAST).data[0].url
        log = s.log_text()
        assert "refused by the moderation policy" in log and "dragon" not in log and "FORBIDDEN" not in log
        assert "sk-test-123" not in log
    finally:
        s.stop()
        os.remove(list_path)


def test_flood_gets_429_with_retry_after_and_the_rest_complete():
    s = Server("--max-concurrent", "1", "--max-queue", "1")
    try:
        results = []
        lock = threading.Lock()

        def one():
            try:
                r = s.client().images.with_raw_response.generate(prompt="a red circle", size="256x256", response_format="b64_json",
                                                                 extra_body=FAST)
                out = (r.http_response.status_code, None)
            except openai.RateLimitError as e:
                out = (429, e.response.headers.get("retry-after"))
            with lock:
                results.append(out)

        threads = [threading.Thread(target=one) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(code for code, _ in results)
        assert codes.count(200) >= 2 and codes.count(429) >= 1 and set(codes) <= {200, 429}, results
        assert all(1 <= int(retry) <= 120 for code, retry in results if code == 429), results
        assert s.health()["running"] == 0 and s.health()["queued"] == 0
    finally:
        s.stop()


def test_a_cancelled_request_frees_its_slot():
    s = Server("--max-concurrent", "1", "--max-queue", "1")
    try:
        body = json.dumps({"prompt": "a red circle", "size": "256x256", "decoder_steps": 1000}).encode()
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        for _ in range(100):
            if s.health()["running"] == 1:
                break
            time.sleep(0.05)
        assert s.health()["running"] == 1
        sock.close()                                        # the client gives up
        t = time.monotonic()
        while s.health()["running"] != 0:
            assert time.monotonic() - t < 10, "the cancelled job kept its slot"
            time.sleep(0.05)
        r = s.client().images.generate(prompt="a red circle", size="256x256", response_format="b64_json", extra_body=FAST)
        assert r.data[0].b64_json
        assert " 499 " in s.log_text()
    finally:
        s.stop()


def test_sigterm_finishes_the_running_job_and_exits_0():
    s = Server()
    result = {}

    def run():
        try:
            result["r"] = s.client().images.generate(prompt="a red circle", size="256x256", response_format="b64_json",
                                                     extra_body={"decoder_steps": 25})
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    for _ in range(100):
        if s.health()["running"] == 1:
            break
        time.sleep(0.05)
    s.proc.send_signal(signal.SIGTERM)
    t.join(timeout=120)
    assert "r" in result, result
    assert s.proc.wait(timeout=60) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2)
    s.stop()


def test_openai_style_script_runs_by_changing_only_base_url(server, tmp_path):
    (tmp_path / "source.png").write_bytes(png_bytes(source(hole=(96, 96, 160, 160)), "RGBA"))
    client = openai.OpenAI(base_url=server.base, api_key="sk-anything")
    img = client.images.generate(model="dall-e-2", prompt="a red circle on a blue background", size="1024x1024")
    with urllib.request.urlopen(img.data[0].url) as f:
        assert Image.open(f).size == (1024, 1024)
    edit = client.images.edit(image=open(tmp_path / "source.png", "rb"), prompt="a red circle")
    with urllib.request.urlopen(edit.data[0].url) as f:
        assert Image.open(f).size == (1024, 1024)
