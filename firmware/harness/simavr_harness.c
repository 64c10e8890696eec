/* Run a firmware ELF in simavr with UART0 on a pseudo-terminal and report what
 * the emulated MCU outputs.
 *
 * Usage: simavr_harness FIRMWARE.elf [--link PATH] [--poll-us N] [--board NAME] [--chip-... V]
 *
 * --board bucket (the default) watches the motor board's pins as below;
 * --board neuro_bridge hangs the neuromorphic chip on the SPI bus
 * (chip_neuro_bridge.c: IN/OUT lines, --chip-* options) and reports
 *   ACT <t_ns> <level>              on every edge of the link-activity LED (PB1)
 *
 * stdout, one line per event (times are the emulated MCU's clock, in ns):
 *   READY <pty slave path>
 *   PWM <t_ns> <motor> <duty 0..1>   when a motor's PWM duty changes
 *   STROBE <t_ns> <level>            on every edge of the strobe pin (PB0)
 *   EXIT <reason>
 * Motor duty is read from the timer registers the way the pin behaves:
 * 8-bit fast PWM non-inverting gives (OCR+1)/256; with the compare output
 * disconnected the pin follows PORT. Registers are sampled every --poll-us
 * emulated microseconds (default 100).
 *
 * uart_pty always makes a fixed symlink /tmp/simavr-uart0; several harnesses
 * at once would fight over it, so the harness removes it when it is ours and
 * makes --link PATH instead (removed again on exit). SIGTERM/SIGINT stop it. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "sim_avr.h"
#include "sim_cycle_timers.h"
#include "sim_elf.h"
#include "sim_time.h"
#include "uart_pty.h"

#include "chip_neuro_bridge.h"

/* ATmega328P data-space addresses */
#define A_PORTB 0x25
#define A_PORTD 0x2B
#define A_TCCR0A 0x44
#define A_OCR0A 0x47
#define A_OCR0B 0x48
#define A_TCCR2A 0xB0
#define A_OCR2A 0xB3
#define A_OCR2B 0xB4

typedef struct {
    uint16_t tccr, ocr, port;
    uint8_t com_bit, port_bit;
} pwm_pin_t;

static const pwm_pin_t pins[4] = {
    {A_TCCR0A, A_OCR0A, A_PORTD, 7, 6}, /* OC0A PD6, COM0A1 */
    {A_TCCR0A, A_OCR0B, A_PORTD, 5, 5}, /* OC0B PD5, COM0B1 */
    {A_TCCR2A, A_OCR2A, A_PORTB, 7, 3}, /* OC2A PB3, COM2A1 */
    {A_TCCR2A, A_OCR2B, A_PORTD, 5, 3}, /* OC2B PD3, COM2B1 */
};

static volatile sig_atomic_t stop_requested;
static uint32_t poll_us = 100;
static double last_duty[4] = {-1, -1, -1, -1};

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static unsigned long long t_ns(avr_t *avr)
{
    return (unsigned long long)avr_cycles_to_nsec(avr, avr->cycle);
}

static avr_cycle_count_t sample_pwm(avr_t *avr, avr_cycle_count_t when, void *param)
{
    (void)param;
    for (int ch = 0; ch < 4; ch++) {
        const pwm_pin_t *p = &pins[ch];
        double duty;
        if (avr->data[p->tccr] & (1u << p->com_bit))
            duty = (avr->data[p->ocr] + 1) / 256.0;
        else
            duty = (avr->data[p->port] >> p->port_bit) & 1u;
        if (duty != last_duty[ch]) {
            last_duty[ch] = duty;
            printf("PWM %llu %d %.6f\n", t_ns(avr), ch, duty);
        }
    }
    return when + avr_usec_to_cycles(avr, poll_us);
}

static void strobe_edge(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    printf("STROBE %llu %u\n", t_ns((avr_t *)param), value & 1u);
}

static void activity_edge(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    printf("ACT %llu %u\n", t_ns((avr_t *)param), value & 1u);
}

int main(int argc, char **argv)
{
    const char *elf = NULL, *link_path = NULL, *board = "bucket";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link_path = argv[++i];
        else if (!strcmp(argv[i], "--board") && i + 1 < argc)
            board = argv[++i];
        else if (!strncmp(argv[i], "--chip-", 7) && i + 1 < argc && neuro_chip_option(argv[i], argv[i + 1]))
            i++;
        else if (!strcmp(argv[i], "--poll-us") && i + 1 < argc)
            poll_us = (uint32_t)atoi(argv[++i]);
        else if (!elf && argv[i][0] != '-')
            elf = argv[i];
        else
            elf = NULL, i = argc;
    }
    int bridge = !strcmp(board, "neuro_bridge");
    if (!elf || poll_us == 0 || (!bridge && strcmp(board, "bucket"))) {
        fprintf(stderr,
                "usage: %s FIRMWARE.elf [--link PATH] [--poll-us N] [--board bucket|neuro_bridge] "
                "[--chip-fault stuck-weight] [--chip-biases N]\n",
                argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf, &fw) != 0 || !fw.mmcu[0] || !fw.frequency) {
        fprintf(stderr, "simavr_harness: %s has no MCU/clock (AVR_MCU section) or is unreadable\n",
                elf);
        return 1;
    }
    avr_t *avr = avr_make_mcu_by_name(fw.mmcu);
    if (!avr) {
        fprintf(stderr, "simavr_harness: simavr does not know MCU '%s'\n", fw.mmcu);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);
    avr->log = 0; /* keep stdout for our event lines */

    /* uart_pty prints its own banner on stdout; those lines are not ours and
     * the reader ignores anything it does not recognise */
    static uart_pty_t uart;
    uart_pty_init(avr, &uart);
    uart_pty_connect(&uart, '0');
    char fixed[64];
    snprintf(fixed, sizeof fixed, "/tmp/simavr-uart0");
    char target[128];
    ssize_t n = readlink(fixed, target, sizeof target - 1);
    if (n > 0) {
        target[n] = 0;
        if (!strcmp(target, uart.pty.slavename))
            unlink(fixed);
    }
    if (link_path) {
        unlink(link_path);
        if (symlink(uart.pty.slavename, link_path) != 0) {
            fprintf(stderr, "simavr_harness: cannot link %s -> %s: %s\n", link_path,
                    uart.pty.slavename, strerror(errno));
            return 1;
        }
    }

    if (bridge) {
        if (neuro_chip_attach(avr) != 0) {
            fprintf(stderr, "simavr_harness: cannot attach the neuromorphic chip to SPI\n");
            return 1;
        }
        avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 1),
                                activity_edge, avr);
    } else {
        avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 0), strobe_edge,
                                avr);
        avr_cycle_timer_register_usec(avr, poll_us, sample_pwm, NULL);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    printf("READY %s\n", uart.pty.slavename);
    const char *reason = "signal";
    while (!stop_requested) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            reason = state == cpu_Done ? "firmware-done" : "firmware-crashed";
            break;
        }
    }
    if (link_path)
        unlink(link_path);
    printf("EXIT %s\n", reason);
    fflush(stdout);
    /* uart_pty_stop() signals its thread with SIGINT; just leave: the kernel
     * closes the pty master, which the host sees as an unplug */
    _exit(0);
}
