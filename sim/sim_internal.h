/* sim_internal.h: what sim/'s files share and nothing else sees: the bundled
 * rover's MJCF, built into the program from sim/models/rover.xml by CMake
 * (sim/embed.cmake), so the program runs from any directory.
 */
#ifndef FIELDBRAIN_SIM_INTERNAL_H
#define FIELDBRAIN_SIM_INTERNAL_H

#include <stddef.h>

extern const unsigned char sim_rover_xml[];
extern const size_t sim_rover_xml_len;

#endif
