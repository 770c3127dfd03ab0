"""sam_core.serve: the lesson's model service — one model on one (GPU) machine, used by a whole class.

    python -m sam_core.serve --model nano --host 127.0.0.1 --port 8001
    python -m sam_core.serve --model sam_vit_h --host 0.0.0.0 --token "$(cat class.token)"   # for a class

Endpoints (seed 004 §5.2, plus image sessions and export); the OpenAPI schema is at ``/openapi.json``:

=========================  =========  ==============================================================
endpoint                   family     what it does
=========================  =========  ==============================================================
GET  /health               all        status, model, device, capabilities (the only path without token)
GET  /sessions             all        the caller's open sessions and their remaining lifetime
GET  /stats                all        queue length, embedding-cache hits / misses, session counts
POST /predict/mask         SAM 1      points / box -> PNG mask, or JSON masks [N, H, W] + scores
POST /image/start, /stop   SAM 1      keep an image's embedding on the server; clicks send coordinates
POST /export               SAM 1      several objects -> zip of PNG masks + manifest.json
POST /detect               SAM 3      AWAITS sam_core.sam3: text -> masks (base64 PNG), bbox [x0, y0, x1,
                                      y1], score, label; ``confidence`` default 0.5 (fields.parse_confidence)
POST /segment/text         SAM 3      AWAITS sam_core.sam3: text -> one merged mask PNG
POST /track/start|prompt|  SAM 2 / 3  AWAITS sam_core.sam2 / sam3: video sessions (SessionStore kind
     propagate|stop                   "video", frames counted against max_session_frames; video_path
                                      through security.resolve_media_path; direction forward / backward /
                                      both; max_frames -1 or absent = all -> None for the predictor;
                                      points without obj_id -> obj_id 1; /track/stop -> store.close)
=========================  =========  ==============================================================

Layout: ``config`` (settings and the refuse-to-start rules), ``security`` (tokens, body limit, media
path guard), ``errors`` (every failure a JSON 4xx), ``images`` (untrusted decoding), ``sessions``,
``engine`` (model, worker queue, embedding cache), ``fields`` (wire formats), ``routes_*``, ``export``,
``app`` (``create_app``), ``client`` (the Python client the app and the tests use).
"""

from sam_core.serve.config import ServerConfig

__all__ = ["ServerConfig"]
