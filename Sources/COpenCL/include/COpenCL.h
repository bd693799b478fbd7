// OpenCL types from the system headers, and a table of entry points filled at run time from the
// ICD loader (libOpenCL.so.1), so the binary starts, and runs on the CPU path, without OpenCL.
#ifndef ALIGNCL_COPENCL_H
#define ALIGNCL_COPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <stddef.h>

// Only the table's own pointers are marked non-null (the loader fills all of them or fails);
// the OpenCL parameters keep their unspecified nullability.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-completeness"

/// Every OpenCL entry point AlignCL calls, looked up by name from the loader.
typedef struct AlignCLOpenCLAPI {
    cl_int (* _Nonnull GetPlatformIDs)(cl_uint, cl_platform_id *, cl_uint *);
    cl_int (* _Nonnull GetPlatformInfo)(cl_platform_id, cl_platform_info, size_t, void *, size_t *);
    cl_int (* _Nonnull GetDeviceIDs)(cl_platform_id, cl_device_type, cl_uint, cl_device_id *, cl_uint *);
    cl_int (* _Nonnull GetDeviceInfo)(cl_device_id, cl_device_info, size_t, void *, size_t *);
    cl_context (* _Nonnull CreateContext)(const cl_context_properties *, cl_uint, const cl_device_id *,
                                void (*)(const char *, const void *, size_t, void *), void *, cl_int *);
    cl_int (* _Nonnull ReleaseContext)(cl_context);
    cl_command_queue (* _Nonnull CreateCommandQueue)(cl_context, cl_device_id, cl_command_queue_properties, cl_int *);
    cl_int (* _Nonnull ReleaseCommandQueue)(cl_command_queue);
    cl_mem (* _Nonnull CreateBuffer)(cl_context, cl_mem_flags, size_t, void *, cl_int *);
    cl_int (* _Nonnull ReleaseMemObject)(cl_mem);
    cl_program (* _Nonnull CreateProgramWithSource)(cl_context, cl_uint, const char **, const size_t *, cl_int *);
    cl_program (* _Nonnull CreateProgramWithBinary)(cl_context, cl_uint, const cl_device_id *, const size_t *,
                                          const unsigned char **, cl_int *, cl_int *);
    cl_int (* _Nonnull BuildProgram)(cl_program, cl_uint, const cl_device_id *, const char *,
                           void (*)(cl_program, void *), void *);
    cl_int (* _Nonnull GetProgramInfo)(cl_program, cl_program_info, size_t, void *, size_t *);
    cl_int (* _Nonnull GetProgramBuildInfo)(cl_program, cl_device_id, cl_program_build_info, size_t, void *, size_t *);
    cl_int (* _Nonnull ReleaseProgram)(cl_program);
    cl_kernel (* _Nonnull CreateKernel)(cl_program, const char *, cl_int *);
    cl_int (* _Nonnull ReleaseKernel)(cl_kernel);
    cl_int (* _Nonnull SetKernelArg)(cl_kernel, cl_uint, size_t, const void *);
    cl_int (* _Nonnull GetKernelWorkGroupInfo)(cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *, size_t *);
    cl_int (* _Nonnull EnqueueNDRangeKernel)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                                   const size_t *, cl_uint, const cl_event *, cl_event *);
    void *(* _Nonnull EnqueueMapBuffer)(cl_command_queue, cl_mem, cl_bool, cl_map_flags, size_t, size_t, cl_uint,
                              const cl_event *, cl_event *, cl_int *);
    cl_int (* _Nonnull EnqueueUnmapMemObject)(cl_command_queue, cl_mem, void *, cl_uint, const cl_event *, cl_event *);
    cl_int (* _Nonnull EnqueueReadBuffer)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint,
                                          const cl_event *, cl_event *);
    cl_int (* _Nonnull EnqueueWriteBuffer)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint,
                                           const cl_event *, cl_event *);
    cl_int (* _Nonnull EnqueueCopyBuffer)(cl_command_queue, cl_mem, cl_mem, size_t, size_t, size_t, cl_uint,
                                          const cl_event *, cl_event *);
    cl_int (* _Nonnull Finish)(cl_command_queue);
    cl_int (* _Nonnull Flush)(cl_command_queue);
    cl_int (* _Nonnull WaitForEvents)(cl_uint, const cl_event *);
    cl_int (* _Nonnull GetEventProfilingInfo)(cl_event, cl_profiling_info, size_t, void *, size_t *);
    cl_int (* _Nonnull ReleaseEvent)(cl_event);
} AlignCLOpenCLAPI;

/// Opens the ICD loader at `path` and returns its entry points (allocated once, never freed: the
/// loader stays open for the life of the process). Returns NULL and writes a one-line reason
/// (the dlopen error, or the first missing symbol) into `error` when it cannot.
const AlignCLOpenCLAPI *_Nullable aligncl_opencl_load(const char *_Nonnull path, char *_Nonnull error,
                                                      size_t error_length);

#pragma clang diagnostic pop

#endif
