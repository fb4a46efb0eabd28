"""``upload.*``: file parts in, file bytes out.

Downloads enforce Telegram's paging rules (``offset``/``limit`` multiples of 4 KiB,
a request never crossing a 1 MiB boundary; 1 KiB with ``precise``), check the
``file_reference`` (``FILE_REFERENCE_EXPIRED`` after
``server.expire_file_references()``) and answer ``FILE_MIGRATE_<dc>`` when the
file lives in another DC.
"""

from __future__ import annotations

from typing import Any

from telethon.tl import functions, types

from ..rpc import RpcContext, RpcError, bad_request, method
from ..world import StoredFile

_MIB = 1024 * 1024


@method(functions.upload.SaveFilePartRequest)
async def save_file_part(ctx: RpcContext, request: Any) -> bool:
    ctx.server.uploads.save_part(ctx.user, request.file_id, request.file_part, request.bytes)
    return True


@method(functions.upload.SaveBigFilePartRequest)
async def save_big_file_part(ctx: RpcContext, request: Any) -> bool:
    ctx.server.uploads.save_part(
        ctx.user, request.file_id, request.file_part, request.bytes, request.file_total_parts
    )
    return True


def _locate(ctx: RpcContext, location: Any) -> StoredFile:
    world = ctx.world
    if isinstance(location, types.InputPhotoFileLocation | types.InputDocumentFileLocation):
        stored = world.files.get(location.id)
        if stored is None or stored.access_hash != location.access_hash:
            raise bad_request("LOCATION_INVALID")
        if stored.file_reference != location.file_reference:
            raise bad_request("FILE_REFERENCE_EXPIRED")
        return stored
    if isinstance(location, types.InputPeerPhotoFileLocation):
        entity = world.input_peer(ctx.user, location.peer)
        photo = entity.photo
        if photo is None or photo.id != location.photo_id:
            raise bad_request("LOCATION_INVALID")
        return photo
    raise bad_request("LOCATION_INVALID")


def _file_type(stored: StoredFile) -> Any:
    if stored.mime_type == "image/jpeg":
        return types.storage.FileJpeg()
    if stored.mime_type == "image/png":
        return types.storage.FilePng()
    if stored.mime_type == "image/gif":
        return types.storage.FileGif()
    return types.storage.FileUnknown()


@method(functions.upload.GetFileRequest)
async def get_file(ctx: RpcContext, request: Any) -> Any:
    offset, limit = request.offset, request.limit
    unit = 1024 if request.precise else 4096
    if limit <= 0 or limit > _MIB or limit % unit or (not request.precise and _MIB % limit):
        raise bad_request("LIMIT_INVALID")
    if offset < 0 or offset % unit:
        raise bad_request("OFFSET_INVALID")
    if not request.precise and offset // _MIB != (offset + limit - 1) // _MIB:
        raise bad_request("LIMIT_INVALID")
    stored = _locate(ctx, request.location)
    if stored.dc_id != ctx.connection.dc_id:
        raise RpcError(303, f"FILE_MIGRATE_{stored.dc_id}")
    return types.upload.File(
        type=_file_type(stored), mtime=stored.date, bytes=stored.data[offset : offset + limit]
    )
