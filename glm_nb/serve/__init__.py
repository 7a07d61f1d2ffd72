"""`glm-nb serve`: a small OpenAI-compatible server (completions, chat completions, SSE streaming, `/v1/models`)
over the local engine, one request decoding at a time. The peer of `glm_nb.chat.RemoteBackend`.

    from glm_nb.serve import serve
    serve(LocalBackend.from_engine(open_model(folder)), port=8000)
"""

from .errors import BadRequestError, ServeError, ServerBusyError, UnauthorizedError
from .queue import DecodeQueue
from .server import GlmServer, serve

__all__ = [
    "BadRequestError",
    "DecodeQueue",
    "GlmServer",
    "ServeError",
    "ServerBusyError",
    "UnauthorizedError",
    "serve",
]
