/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum of flinc's files on disk
 * (checkpoint metadata, state files): the polynomial iSCSI, ext4 and LevelDB
 * use, stronger than zlib's CRC-32 on short bursts.
 *
 * Thread-safe: the tables are built at compile time.
 */
#ifndef FLINC_COMMON_CRC32C_H
#define FLINC_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of len bytes at p, continuing from crc (0 to start):
 * cm_crc32c(cm_crc32c(0, a, n), b, m) == cm_crc32c(0, a || b, n + m). */
uint32_t cm_crc32c(uint32_t crc, const void *p, size_t len);

#endif
