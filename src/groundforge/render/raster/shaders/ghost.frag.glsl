#version 410 core
// The defect pass for geometry a defect removed or displaced: its id wherever that geometry
// would be seen. Drawn with the G-buffer's depth tested but not written.

uniform uint u_defect_id;

layout(location = 0) out uint o_defect;

void main() {
    o_defect = u_defect_id;
}
