/* Wire protocol of the neuromorphic bridge board; firmware/PROTOCOL.md is the spec.
 * drivers/neuromorphic/protocol.py mirrors these numbers and a unit test parses this
 * header to keep the two in step, so keep one "#define NAME value" per line. */
#ifndef NEURO_BRIDGE_PROTO_H
#define NEURO_BRIDGE_PROTO_H

#define PROTO_VERSION 1
#define FW_VERSION_MAJOR 1
#define FW_VERSION_MINOR 0
#define FW_VERSION_PATCH 0

/* the bridge builds common/link.h with this payload (-DLINK_MAX_PAYLOAD) */
#define MAX_PAYLOAD 120
#define TICK_US 1000
#define WATCHDOG_MS_DEFAULT 250
#define WATCHDOG_MS_MIN 20
#define WATCHDOG_MS_MAX 5000
/* an address is core * NEURONS_PER_CORE_MAX + neuron (u16 on the wire) */
#define NEURONS_PER_CORE_MAX 256
/* input events per EVENTS_IN frame: t0 u32, then (dt u16, addr u16, syn u8) each */
#define IN_EVENT_BYTES 5
#define IN_PER_FRAME 23
/* output events per EVT_SPIKES frame: t0 u32, overflow u16, then (dt u16, addr u16) each */
#define OUT_EVENT_BYTES 4
#define OUT_PER_FRAME 28
/* synapse entries (src u16, type u8, weight u8) per WRITE/READ_SYNAPSES frame */
#define SYN_ENTRY_BYTES 4
#define SYN_PER_FRAME 28
/* bias (coarse u8, fine u8) pairs per WRITE/READ_BIASES frame */
#define BIAS_PER_FRAME 32
/* row CRCs (u16) per ROW_CRC reply */
#define CRC_PER_FRAME 56
/* coarse bias codes 0..COARSE_MAX (eight current ranges); fine codes are a whole u8 */
#define COARSE_MAX 7
/* a weight of 0 marks an empty synapse slot */
#define WEIGHT_EMPTY 0

/* requests (host -> board); a reply has the request type | REPLY_FLAG */
#define MSG_HELLO 0x01
#define MSG_PING 0x02
#define MSG_STATUS 0x03
#define MSG_SET_WATCHDOG 0x04
#define MSG_WRITE_BIASES 0x05
#define MSG_READ_BIASES 0x06
#define MSG_WRITE_SYNAPSES 0x07
#define MSG_READ_SYNAPSES 0x08
#define MSG_ROW_CRC 0x09
#define MSG_EVENTS_IN 0x0A
#define MSG_CLEAR 0x0B
#define REPLY_FLAG 0x80
/* unsolicited events (board -> host) */
#define EVT_SPIKES 0xC0

/* first payload byte of every reply */
#define ERR_OK 0
#define ERR_UNKNOWN_TYPE 1
#define ERR_BAD_LENGTH 2
#define ERR_OUT_OF_RANGE 3
#define ERR_BAD_VERSION 4
#define ERR_OUT_OF_ORDER 5
#define ERR_CHIP 6

/* STATUS flags */
#define FLAG_WATCHDOG_TRIPPED 0x01
#define FLAG_CHIP_LOST 0x02

/* chip models the chip reports (chip-bus 'I' record) */
#define CHIP_NONE 0
#define CHIP_DYNAPSE 1
#define CHIP_BRAINSCALES2 2

#endif
