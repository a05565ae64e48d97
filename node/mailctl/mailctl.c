/*
 * mailctl.c - administration client (placeholder).
 */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "mailctl: not implemented yet\n");
	return 2;
}
