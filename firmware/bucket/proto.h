/* Wire protocol of the bucket motor board; firmware/PROTOCOL.md is the spec.
 * drivers/bucket/protocol.py mirrors these numbers and a unit test parses this
 * header to keep the two in step, so keep one "#define NAME value" per line. */
#ifndef BUCKET_PROTO_H
#define BUCKET_PROTO_H

#define PROTO_VERSION 2
#define FW_VERSION_MAJOR 1
#define FW_VERSION_MINOR 1
#define FW_VERSION_PATCH 0

#define N_MOTORS 4
#define MAX_PAYLOAD 32
/* type + seq + payload + crc16 */
#define MAX_RAW (2 + MAX_PAYLOAD + 2)
#define SCHED_DEPTH 8
/* STATUS reply bytes before the duty_out fields (status byte included) */
#define STATUS_FIXED 23
#define DUTY_FULL_SCALE 65535
/* per-motor clamp: 60000/65535 = 91.6 % */
#define DUTY_MAX_DEFAULT 60000
/* slew limit: duty units per 1 ms tick (full scale in 32 ms) */
#define SLEW_PER_TICK 2048
#define TICK_US 1000
#define WATCHDOG_MS_DEFAULT 250
#define WATCHDOG_MS_MIN 50
#define WATCHDOG_MS_MAX 5000

/* requests (host -> board); a reply has the request type | REPLY_FLAG */
#define MSG_HELLO 0x01
#define MSG_SET_DUTY 0x02
#define MSG_SCHEDULE 0x03
#define MSG_STOP 0x04
#define MSG_STATUS 0x05
#define MSG_SET_WATCHDOG 0x06
#define MSG_PING 0x07
#define REPLY_FLAG 0x80
/* unsolicited events (board -> host) */
#define EVT_STROBE 0xC0

/* first payload byte of every reply */
#define ERR_OK 0
#define ERR_UNKNOWN_TYPE 1
#define ERR_BAD_LENGTH 2
#define ERR_OUT_OF_RANGE 3
#define ERR_QUEUE_FULL 4
#define ERR_BAD_VERSION 5

/* STATUS flags */
#define FLAG_WATCHDOG_TRIPPED 0x01
#define FLAG_STOPPED 0x02

#endif
