"""sam_core.serve: the lesson's model service — one model on one (GPU) machine, used by a whole class.

    python -m sam_core.serve --model nano --host 127.0.0.1 --port 8001
    python -m sam_core.serve --model sam_vit_h --concept-model sam3 --video-model sam2.1_hiera_large \
        --host 0.0.0.0 --token "$(cat class.token)" --media-root /srv/class-media          # for a class

Endpoints (seed 004 §5.2, plus image sessions and export); the OpenAPI schema is at ``/openapi.json``
(``/docs`` renders it). A server without ``--concept-model`` / ``--video-model`` has no routes for them.

=========================  =========  ==============================================================
endpoint                   family     what it does
=========================  =========  ==============================================================
GET  /health               all        status, models, device, capabilities (the only path without token)
GET  /sessions             all        the caller's open sessions and their remaining lifetime
GET  /stats                all        queue length, embedding-cache hits / misses, session counts
POST /predict/mask         SAM 1      points / box -> PNG mask, or JSON masks [N, H, W] + scores
POST /image/start, /stop   SAM 1      keep an image's embedding on the server; clicks send coordinates
POST /export               SAM 1      several objects -> zip of PNG masks + manifest.json
POST /detect               SAM 3      text and / or exemplar boxes -> masks (base64 PNG), bbox [x0, y0,
                                      x1, y1], score, label; ``confidence`` default 0.5
POST /segment/text         SAM 3      the same -> one merged mask PNG (X-Object-Count header)
POST /track/start|prompt|  SAM 2      video sessions: frames uploaded or ``video_path`` under the media
     propagate|stop|export            root; points (no obj_id -> 1) / box prompts; direction forward /
                                      backward / both; max_frames -1 or absent = all (None for the
                                      predictor); /track/export: zip of per-frame PNGs + manifest.json
=========================  =========  ==============================================================

Layout: ``config`` (settings and the refuse-to-start rules), ``security`` (tokens, body limit, media
path guard), ``errors`` (every failure a JSON 4xx), ``images`` (untrusted decoding), ``sessions``,
``engine`` (SAM 1 model, worker queue, embedding cache), ``engine_sam3`` (Sam3Processor),
``engine_video`` (SAM2VideoPredictor sessions), ``fields`` (wire formats), ``schemas`` (the JSON
answers, for the OpenAPI schema), ``routes_*``, ``export``,
``app`` (``create_app``), ``client`` (the Python client the app and the tests use), ``local`` (a
server in a child process, for tests). Running several replicas: ``docs/SERVE.md``.
"""

from sam_core.serve.config import ServerConfig

__all__ = ["ServerConfig"]
