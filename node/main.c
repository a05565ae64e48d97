/*
 * main.c - the mailnode daemon (placeholder until the services are wired).
 */
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("mailnode %s\n", MN_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: mailnode --config FILE\n");
	return 2;
}
