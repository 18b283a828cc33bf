/* main.c — the ringfence command-line tool (being written). */
#include <stdio.h>
#include "ringfence/ringfence.h"
int main(void)
{
    printf("ringfence %s\n", RF_VERSION_STRING);
    return 0;
}
