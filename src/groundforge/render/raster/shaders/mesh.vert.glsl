#version 410 core
// One vertex stage for every program, so the instance pass and the per-object occlusion counts
// rasterise identically (`invariant`), and shadow maps use the same transform as the camera.
// The engine defines FLOW after the version line for the G-buffer variant that writes optical
// flow; gl_Position is computed the same way in both, so both rasterise the same pixels.

in vec3 a_position;
in vec3 a_normal;
in vec2 a_uv;

uniform mat4 u_model;       // object -> world
uniform mat4 u_model_view;  // object -> eye frame (OpenCV camera, or a light's view)
uniform mat4 u_projection;  // eye frame -> clip

out vec3 v_world;
out vec3 v_normal_world;
out vec3 v_eye;
out vec3 v_normal_eye;
out vec2 v_uv;
out vec3 v_object;  // object frame, metres: where surface marks are defined

#ifdef FLOW
uniform mat4 u_next_model_view;  // object -> the next frame's OpenCV camera frame
out vec3 v_next_eye;
#endif

invariant gl_Position;

void main() {
    vec4 p_eye = u_model_view * vec4(a_position, 1.0);
    gl_Position = u_projection * p_eye;
    v_eye = p_eye.xyz;
    v_normal_eye = mat3(u_model_view) * a_normal;
    v_world = (u_model * vec4(a_position, 1.0)).xyz;
    v_normal_world = mat3(u_model) * a_normal;
    v_uv = a_uv;
    v_object = a_position;
#ifdef FLOW
    v_next_eye = (u_next_model_view * vec4(a_position, 1.0)).xyz;
#endif
}
