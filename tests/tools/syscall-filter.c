/* SPDX-License-Identifier: ISC */
/*
 * syscall-filter: run a program under an allow-list of system calls, as
 * systemd's SystemCallFilter= does: a call not on the list kills the
 * process (SIGSYS), and so does a call of another architecture
 * (SystemCallArchitectures=native). For tests/t/0800, which runs the
 * package's greetbotd under its unit's filter where systemd cannot.
 *
 *	syscall-filter LIST PROGRAM [ARG...]
 *
 * LIST names the allowed calls, one per line; names this architecture
 * does not have are skipped. The filter is inherited by every child, as
 * systemd's is. Exits 77 on an architecture it does not know.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH	AUDIT_ARCH_AARCH64
#endif

/* Every call this architecture's headers name (made by the Makefile from
 * <sys/syscall.h>). */
static const struct {
	const char	*name;
	long		 nr;
} calls[] = {
#include "syscalls.h"
};

#define MAX_ALLOWED	1024

int
main(int argc, char **argv)
{
#ifndef ARCH
	(void)argc;
	(void)argv;
	fprintf(stderr, "syscall-filter: an architecture this tool does not know\n");
	return 77;
#else
	static struct sock_filter prog[4 + 2 * MAX_ALLOWED + 1];
	struct sock_fprog fp;
	char line[128];
	size_t k = 0, n = 0;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: syscall-filter LIST PROGRAM [ARG...]\n");
		return 2;
	}
	if ((f = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 2;
	}
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch));
	prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, " \t\r\n")] = '\0';
		for (size_t i = 0; line[0] != '\0' && i < sizeof(calls) / sizeof(calls[0]); i++) {
			if (strcmp(calls[i].name, line) != 0)
				continue;
			if (n++ == MAX_ALLOWED) {
				fprintf(stderr, "syscall-filter: more than %d calls\n", MAX_ALLOWED);
				return 2;
			}
			/* This call: allowed; else on to the next comparison. */
			prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			    (unsigned)calls[i].nr, 0, 1);
			prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
			break;
		}
	}
	fclose(f);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	fp.len = (unsigned short)k;
	fp.filter = prog;
	/* Without CAP_SYS_ADMIN a filter needs no_new_privs (the unit sets
	 * it anyway). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) == -1) {
		perror("syscall-filter: seccomp");
		return 2;
	}
	execvp(argv[2], argv + 2);
	perror(argv[2]);
	return 127;
#endif
}
