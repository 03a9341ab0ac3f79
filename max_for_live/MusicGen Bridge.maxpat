{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 5,
			"revision": 5,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [80.0, 80.0, 1400.0, 760.0],
		"openrect": [0.0, 0.0, 600.0, 169.0],
		"bglocked": 0,
		"openinpresentation": 1,
		"default_fontsize": 10.0,
		"default_fontface": 0,
		"default_fontname": "Arial Bold",
		"gridonopen": 1,
		"gridsize": [8.0, 8.0],
		"gridsnaponopen": 1,
		"objectsnaponopen": 1,
		"statusbarvisible": 2,
		"toolbarvisible": 1,
		"boxanimatetime": 200,
		"enablehscroll": 1,
		"enablevscroll": 1,
		"devicewidth": 600.0,
		"description": "MusicGen Bridge: generate, continue and melody-condition audio with a local musicgen-bridge daemon; results land as clips.",
		"digest": "Text-to-music clips from a local MusicGen daemon",
		"tags": "musicgen generate audio osc",
		"style": "",
		"subpatcher_template": "",
		"assistshowspatchername": 0,
		"boxes": [
			{
				"box": {
					"maxclass": "newobj",
					"text": "plugin~",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [1250, 20, 60, 22],
					"outlettype": ["signal", "signal"],
					"id": "obj-1"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "plugout~",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [1250, 80, 60, 22],
					"outlettype": ["signal", "signal"],
					"id": "obj-2"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "live.thisdevice",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [700, 20, 90, 22],
					"outlettype": ["bang", "int", "int"],
					"id": "obj-3"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "deferlow",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [700, 50, 60, 22],
					"outlettype": [""],
					"id": "obj-4"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "init",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [700, 80, 32, 22],
					"id": "obj-5"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "js musicgen_bridge.js",
					"numinlets": 1,
					"numoutlets": 11,
					"patching_rect": [700, 300, 400, 22],
					"outlettype": ["", "", "", "", "", "", "", "", "", "", ""],
					"saved_object_attributes": {
						"filename": "musicgen_bridge.js",
						"parameter_enable": 0
					},
					"id": "obj-6"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t i",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [730, 350, 28, 22],
					"outlettype": ["int"],
					"id": "obj-7"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t f",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [770, 350, 28, 22],
					"outlettype": ["float"],
					"id": "obj-8"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "zl.group 4096 @zlmaxsize 4096",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [700, 390, 180, 22],
					"outlettype": ["", ""],
					"id": "obj-9"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "udpsend 127.0.0.1 9000",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [700, 430, 140, 22],
					"id": "obj-10"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "udpreceive",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1000, 200, 100, 22],
					"outlettype": [""],
					"id": "obj-11"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend reply",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1000, 230, 90, 22],
					"outlettype": [""],
					"id": "obj-12"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "deferlow",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1000, 260, 60, 22],
					"outlettype": [""],
					"id": "obj-13"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "pattr mgb_settings @parameter_enable 1",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [1120, 380, 220, 22],
					"outlettype": ["", "", ""],
					"varname": "mgb_settings",
					"saved_object_attributes": {
						"parameter_enable": 1,
						"parameter_mappable": 0
					},
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_invisible": 1,
							"parameter_longname": "MusicGen Bridge settings",
							"parameter_shortname": "settings",
							"parameter_type": 3
						}
					},
					"id": "obj-14"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "deferlow",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1120, 410, 60, 22],
					"outlettype": [""],
					"id": "obj-15"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend restore",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1120, 440, 100, 22],
					"outlettype": [""],
					"id": "obj-16"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "route seed dice prompt folder host replyport_auto token jam listen",
					"numinlets": 2,
					"numoutlets": 10,
					"patching_rect": [900, 480, 300, 22],
					"outlettype": ["", "", "", "", "", "", "", "", "", ""],
					"id": "obj-17"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Prompt",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [20, 20, 60, 18],
					"id": "obj-18",
					"presentation": 1,
					"presentation_rect": [4, 2, 60, 14]
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [20, 40, 300, 50],
					"text": "",
					"outputmode": 1,
					"keymode": 1,
					"lines": 3,
					"wordwrap": 1,
					"varname": "prompt",
					"fontsize": 10.0,
					"id": "obj-19",
					"presentation": 1,
					"presentation_rect": [4, 17, 300, 44]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend prompt",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20, 100, 95, 22],
					"outlettype": [""],
					"id": "obj-20"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [20, 140, 70, 20],
					"varname": "Generate button",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Generate button",
							"parameter_shortname": "Generate",
							"parameter_type": 2,
							"parameter_enum": ["val1", "val2"],
							"parameter_mmax": 1.0,
							"parameter_invisible": 2
						}
					},
					"mode": 0,
					"text": "Generate",
					"texton": "Generate",
					"id": "obj-21",
					"presentation": 1,
					"presentation_rect": [4, 65, 72, 20]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t b b",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [20, 170, 34, 22],
					"outlettype": ["bang", "bang"],
					"id": "obj-22"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "generate",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [20, 200, 80, 22],
					"id": "obj-23"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [110, 140, 70, 20],
					"varname": "Continue button",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Continue button",
							"parameter_shortname": "Continue",
							"parameter_type": 2,
							"parameter_enum": ["val1", "val2"],
							"parameter_mmax": 1.0,
							"parameter_invisible": 2
						}
					},
					"mode": 0,
					"text": "Continue",
					"texton": "Continue",
					"id": "obj-24",
					"presentation": 1,
					"presentation_rect": [80, 65, 72, 20]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t b b",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [110, 170, 34, 22],
					"outlettype": ["bang", "bang"],
					"id": "obj-25"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "continuation",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [110, 200, 80, 22],
					"id": "obj-26"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [200, 140, 70, 20],
					"varname": "Melody button",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Melody button",
							"parameter_shortname": "Melody",
							"parameter_type": 2,
							"parameter_enum": ["val1", "val2"],
							"parameter_mmax": 1.0,
							"parameter_invisible": 2
						}
					},
					"mode": 0,
					"text": "Melody",
					"texton": "Melody",
					"id": "obj-27",
					"presentation": 1,
					"presentation_rect": [156, 65, 72, 20]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t b b",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [200, 170, 34, 22],
					"outlettype": ["bang", "bang"],
					"id": "obj-28"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "melody",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [200, 200, 80, 22],
					"id": "obj-29"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [290, 140, 70, 20],
					"varname": "Cancel button",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Cancel button",
							"parameter_shortname": "Cancel",
							"parameter_type": 2,
							"parameter_enum": ["val1", "val2"],
							"parameter_mmax": 1.0,
							"parameter_invisible": 2
						}
					},
					"mode": 0,
					"text": "Cancel",
					"texton": "Cancel",
					"id": "obj-30",
					"presentation": 1,
					"presentation_rect": [232, 65, 72, 20]
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "cancel",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [290, 200, 80, 22],
					"id": "obj-31"
				}
			},
			{
				"box": {
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [""],
					"parameter_enable": 0,
					"patching_rect": [20, 240, 300, 10],
					"orientation": 1,
					"size": 101.0,
					"ignoreclick": 1,
					"varname": "progress",
					"id": "obj-32",
					"presentation": 1,
					"presentation_rect": [4, 89, 300, 6]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Start the daemon (musicgen-bridge serve), then press Generate",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [20, 260, 580, 30],
					"linecount": 2,
					"varname": "status",
					"id": "obj-33",
					"presentation": 1,
					"presentation_rect": [4, 98, 592, 28]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Length",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [360, 20, 50, 18],
					"id": "obj-34",
					"presentation": 1,
					"presentation_rect": [310, 2, 44, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [360, 40, 60, 15],
					"varname": "Length unit",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Length unit",
							"parameter_shortname": "Unit",
							"parameter_type": 2,
							"parameter_enum": ["bars", "seconds"],
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_invisible": 0
						}
					},
					"id": "obj-35",
					"presentation": 1,
					"presentation_rect": [310, 17, 58, 15]
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [430, 40, 44, 15],
					"varname": "Length in bars",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Length in bars",
							"parameter_shortname": "Bars",
							"parameter_type": 0,
							"parameter_mmin": 1.0,
							"parameter_mmax": 64.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [4],
							"parameter_unitstyle": 0,
							"parameter_invisible": 0
						}
					},
					"id": "obj-36",
					"presentation": 1,
					"presentation_rect": [372, 17, 40, 15]
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [480, 40, 44, 15],
					"varname": "Length in seconds",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Length in seconds",
							"parameter_shortname": "Seconds",
							"parameter_type": 0,
							"parameter_mmin": 1.0,
							"parameter_mmax": 300.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [8],
							"parameter_unitstyle": 1,
							"parameter_invisible": 0
						}
					},
					"id": "obj-37",
					"presentation": 1,
					"presentation_rect": [416, 17, 44, 15]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Model",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [360, 60, 50, 18],
					"id": "obj-38",
					"presentation": 1,
					"presentation_rect": [310, 33, 44, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [360, 80, 90, 15],
					"varname": "Model",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Model",
							"parameter_shortname": "Model",
							"parameter_type": 2,
							"parameter_enum": ["auto", "small", "medium", "large", "melody", "melody-large", "stereo-small", "stereo-medium", "stereo-large", "stereo-melody", "stereo-melody-large"],
							"parameter_mmax": 10.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_invisible": 0
						}
					},
					"id": "obj-39",
					"presentation": 1,
					"presentation_rect": [310, 48, 90, 15]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Variations",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [460, 60, 60, 18],
					"id": "obj-40",
					"presentation": 1,
					"presentation_rect": [404, 33, 60, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [460, 80, 40, 15],
					"varname": "Variations",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Variations",
							"parameter_shortname": "Var",
							"parameter_type": 0,
							"parameter_mmin": 1.0,
							"parameter_mmax": 8.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1],
							"parameter_unitstyle": 0,
							"parameter_invisible": 0
						}
					},
					"id": "obj-41",
					"presentation": 1,
					"presentation_rect": [404, 48, 56, 15]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Seed",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [360, 100, 40, 18],
					"id": "obj-42",
					"presentation": 1,
					"presentation_rect": [310, 65, 40, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [360, 120, 70, 15],
					"varname": "Seed",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Seed",
							"parameter_shortname": "Seed",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 16777215.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_unitstyle": 0,
							"parameter_invisible": 1
						}
					},
					"id": "obj-43",
					"presentation": 1,
					"presentation_rect": [310, 80, 74, 15]
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [440, 120, 40, 15],
					"varname": "Dice (random seed)",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Dice (random seed)",
							"parameter_shortname": "Dice",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1],
							"parameter_invisible": 0
						}
					},
					"mode": 1,
					"text": "Dice",
					"texton": "Dice",
					"id": "obj-44",
					"presentation": 1,
					"presentation_rect": [388, 80, 34, 15]
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [490, 120, 44, 15],
					"varname": "Recall seed button",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Recall seed button",
							"parameter_shortname": "Recall",
							"parameter_type": 2,
							"parameter_enum": ["val1", "val2"],
							"parameter_mmax": 1.0,
							"parameter_invisible": 2
						}
					},
					"mode": 0,
					"text": "Recall",
					"texton": "Recall",
					"id": "obj-45",
					"presentation": 1,
					"presentation_rect": [426, 80, 38, 15]
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [540, 20, 44, 48],
					"varname": "Temperature",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Temperature",
							"parameter_shortname": "Temp",
							"parameter_type": 0,
							"parameter_mmin": 0.05,
							"parameter_mmax": 2.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1.0],
							"parameter_unitstyle": 1,
							"parameter_invisible": 0
						}
					},
					"id": "obj-46",
					"presentation": 1,
					"presentation_rect": [468, 2, 44, 48]
				}
			},
			{
				"box": {
					"maxclass": "live.dial",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [590, 20, 44, 48],
					"varname": "Guidance (CFG)",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Guidance (CFG)",
							"parameter_shortname": "CFG",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 10.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [3.0],
							"parameter_unitstyle": 1,
							"parameter_invisible": 0
						}
					},
					"id": "obj-47",
					"presentation": 1,
					"presentation_rect": [516, 2, 44, 48]
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [540, 80, 40, 15],
					"varname": "Loop-ready",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Loop-ready",
							"parameter_shortname": "Loop",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1],
							"parameter_invisible": 0
						}
					},
					"mode": 1,
					"text": "Loop",
					"texton": "Loop",
					"id": "obj-48",
					"presentation": 1,
					"presentation_rect": [468, 52, 44, 15]
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [590, 80, 40, 15],
					"varname": "Key in prompt",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Key in prompt",
							"parameter_shortname": "Key",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [1],
							"parameter_invisible": 0
						}
					},
					"mode": 1,
					"text": "Key",
					"texton": "Key",
					"id": "obj-49",
					"presentation": 1,
					"presentation_rect": [516, 52, 44, 15]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Place",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [540, 100, 40, 18],
					"id": "obj-50",
					"presentation": 1,
					"presentation_rect": [468, 67, 40, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [540, 120, 90, 15],
					"varname": "Placement",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Placement",
							"parameter_shortname": "Place",
							"parameter_type": 2,
							"parameter_enum": ["auto", "session", "arrangement"],
							"parameter_mmax": 2.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_invisible": 0
						}
					},
					"id": "obj-51",
					"presentation": 1,
					"presentation_rect": [468, 81, 92, 15]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend lengthmode",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360, 190, 100, 22],
					"outlettype": [""],
					"id": "obj-52"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend bars",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [430, 190, 100, 22],
					"outlettype": [""],
					"id": "obj-53"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend seconds",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [480, 190, 100, 22],
					"outlettype": [""],
					"id": "obj-54"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend model",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360, 230, 100, 22],
					"outlettype": [""],
					"id": "obj-55"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend variations",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [460, 230, 100, 22],
					"outlettype": [""],
					"id": "obj-56"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend seed",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [360, 270, 100, 22],
					"outlettype": [""],
					"id": "obj-57"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend dice",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [440, 270, 100, 22],
					"outlettype": [""],
					"id": "obj-58"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend temperature",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [540, 170, 100, 22],
					"outlettype": [""],
					"id": "obj-59"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend cfg",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [590, 170, 100, 22],
					"outlettype": [""],
					"id": "obj-60"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend loop",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [540, 230, 100, 22],
					"outlettype": [""],
					"id": "obj-61"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend usekey",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [590, 230, 100, 22],
					"outlettype": [""],
					"id": "obj-62"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend place",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [540, 270, 100, 22],
					"outlettype": [""],
					"id": "obj-63"
				}
			},
			{
				"box": {
					"maxclass": "message",
					"text": "recall",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [""],
					"patching_rect": [490, 300, 44, 22],
					"id": "obj-64"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Daemon",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [20, 520, 50, 18],
					"id": "obj-65",
					"presentation": 1,
					"presentation_rect": [4, 128, 44, 14]
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [20, 540, 90, 18],
					"text": "127.0.0.1",
					"outputmode": 1,
					"keymode": 1,
					"lines": 1,
					"wordwrap": 0,
					"varname": "host",
					"fontsize": 10.0,
					"id": "obj-66",
					"presentation": 1,
					"presentation_rect": [4, 145, 86, 18]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend host",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [20, 570, 80, 22],
					"outlettype": [""],
					"id": "obj-67"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Port",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [120, 520, 40, 18],
					"id": "obj-68",
					"presentation": 1,
					"presentation_rect": [94, 128, 40, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [120, 540, 50, 15],
					"varname": "Daemon port",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Daemon port",
							"parameter_shortname": "Port",
							"parameter_type": 0,
							"parameter_mmin": 1.0,
							"parameter_mmax": 65535.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [9000],
							"parameter_unitstyle": 0,
							"parameter_invisible": 1
						}
					},
					"id": "obj-69",
					"presentation": 1,
					"presentation_rect": [94, 146, 46, 15]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Reply (0 auto)",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [180, 520, 80, 18],
					"id": "obj-70",
					"presentation": 1,
					"presentation_rect": [144, 128, 76, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.numbox",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", "float"],
					"parameter_enable": 1,
					"patching_rect": [180, 540, 50, 15],
					"varname": "Reply port",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Reply port",
							"parameter_shortname": "Reply",
							"parameter_type": 0,
							"parameter_mmin": 0.0,
							"parameter_mmax": 65535.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_unitstyle": 0,
							"parameter_invisible": 1
						}
					},
					"id": "obj-71",
					"presentation": 1,
					"presentation_rect": [144, 146, 46, 15]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "reply port 9001",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [240, 540, 90, 18],
					"varname": "replyport_auto",
					"id": "obj-72",
					"presentation": 1,
					"presentation_rect": [192, 146, 84, 16]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend port",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [120, 600, 100, 22],
					"outlettype": [""],
					"id": "obj-73"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend replyport",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [180, 600, 100, 22],
					"outlettype": [""],
					"id": "obj-74"
				}
			},
			{
				"box": {
					"maxclass": "led",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": ["int"],
					"parameter_enable": 0,
					"patching_rect": [340, 540, 18, 18],
					"ignoreclick": 1,
					"varname": "connected",
					"id": "obj-75",
					"presentation": 1,
					"presentation_rect": [280, 145, 16, 16]
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Token",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [370, 520, 40, 18],
					"id": "obj-76",
					"presentation": 1,
					"presentation_rect": [302, 128, 40, 14]
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [370, 540, 80, 18],
					"text": "",
					"outputmode": 1,
					"keymode": 1,
					"lines": 1,
					"wordwrap": 0,
					"varname": "token",
					"fontsize": 10.0,
					"id": "obj-77",
					"presentation": 1,
					"presentation_rect": [302, 145, 70, 18]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend token",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [370, 570, 85, 22],
					"outlettype": [""],
					"id": "obj-78"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [470, 540, 60, 18],
					"varname": "Choose output folder button",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Choose output folder button",
							"parameter_shortname": "Folder",
							"parameter_type": 2,
							"parameter_enum": ["val1", "val2"],
							"parameter_mmax": 1.0,
							"parameter_invisible": 2
						}
					},
					"mode": 0,
					"text": "Folder",
					"texton": "Folder",
					"id": "obj-79",
					"presentation": 1,
					"presentation_rect": [378, 145, 52, 18]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "opendialog fold",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [470, 570, 95, 22],
					"outlettype": ["", "bang"],
					"id": "obj-80"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "conformpath slash boot",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [470, 600, 135, 22],
					"outlettype": ["", "int"],
					"id": "obj-81"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend folder",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [470, 630, 90, 22],
					"outlettype": [""],
					"id": "obj-82"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "(no folder: the Live Set's folder once saved)",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [540, 540, 200, 18],
					"varname": "folder",
					"id": "obj-83",
					"presentation": 1,
					"presentation_rect": [434, 146, 84, 16]
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [640, 80, 40, 15],
					"varname": "Stems",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Stems",
							"parameter_shortname": "Stems",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_invisible": 0
						}
					},
					"mode": 1,
					"text": "Stems",
					"texton": "Stems",
					"id": "obj-84",
					"presentation": 1,
					"presentation_rect": [564, 52, 34, 15]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend stems",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [640, 230, 100, 22],
					"outlettype": [""],
					"id": "obj-85"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Launch",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1000, 40, 50, 18],
					"id": "obj-86",
					"presentation": 1,
					"presentation_rect": [564, 2, 36, 14]
				}
			},
			{
				"box": {
					"maxclass": "live.menu",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": ["", "", "float"],
					"parameter_enable": 1,
					"patching_rect": [1000, 60, 60, 15],
					"varname": "Launch when ready",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Launch when ready",
							"parameter_shortname": "Launch",
							"parameter_type": 2,
							"parameter_enum": ["off", "launch", "follow"],
							"parameter_mmax": 2.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_invisible": 0
						}
					},
					"id": "obj-87",
					"presentation": 1,
					"presentation_rect": [564, 17, 34, 15]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend launch",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1000, 90, 100, 22],
					"outlettype": [""],
					"id": "obj-88"
				}
			},
			{
				"box": {
					"maxclass": "live.text",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": ["", ""],
					"parameter_enable": 1,
					"patching_rect": [1000, 130, 40, 15],
					"varname": "Jam",
					"saved_attribute_attributes": {
						"valueof": {
							"parameter_longname": "Jam",
							"parameter_shortname": "Jam",
							"parameter_type": 2,
							"parameter_enum": ["off", "on"],
							"parameter_mmax": 1.0,
							"parameter_initial_enable": 1,
							"parameter_initial": [0],
							"parameter_invisible": 0
						}
					},
					"mode": 1,
					"text": "Jam",
					"texton": "Jam",
					"id": "obj-89",
					"presentation": 1,
					"presentation_rect": [564, 33, 34, 15]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "t i b",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [1000, 160, 40, 22],
					"outlettype": ["int", "bang"],
					"id": "obj-90"
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend jam",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1000, 190, 100, 22],
					"outlettype": [""],
					"id": "obj-91"
				}
			},
			{
				"box": {
					"maxclass": "comment",
					"text": "Listen (presets)",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [1000, 230, 90, 18],
					"id": "obj-92",
					"presentation": 1,
					"presentation_rect": [520, 128, 78, 14]
				}
			},
			{
				"box": {
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": ["", "int", "", ""],
					"parameter_enable": 0,
					"patching_rect": [1000, 250, 80, 18],
					"text": "",
					"outputmode": 1,
					"keymode": 1,
					"lines": 1,
					"wordwrap": 0,
					"varname": "listen",
					"fontsize": 10.0,
					"id": "obj-93",
					"presentation": 1,
					"presentation_rect": [520, 145, 76, 18]
				}
			},
			{
				"box": {
					"maxclass": "newobj",
					"text": "prepend listen",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [1000, 280, 100, 22],
					"outlettype": [""],
					"id": "obj-94"
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"source": ["obj-1", 0],
					"destination": ["obj-2", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-1", 1],
					"destination": ["obj-2", 1]
				}
			},
			{
				"patchline": {
					"source": ["obj-3", 0],
					"destination": ["obj-4", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-4", 0],
					"destination": ["obj-5", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-5", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 0],
					"destination": ["obj-9", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 1],
					"destination": ["obj-7", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 2],
					"destination": ["obj-8", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 3],
					"destination": ["obj-9", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-7", 0],
					"destination": ["obj-9", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-8", 0],
					"destination": ["obj-9", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-9", 0],
					"destination": ["obj-10", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 7],
					"destination": ["obj-10", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 8],
					"destination": ["obj-11", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-11", 0],
					"destination": ["obj-12", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-12", 0],
					"destination": ["obj-13", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-13", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 9],
					"destination": ["obj-14", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-14", 0],
					"destination": ["obj-15", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-15", 0],
					"destination": ["obj-16", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-16", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 10],
					"destination": ["obj-17", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-19", 0],
					"destination": ["obj-20", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-20", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 2],
					"destination": ["obj-19", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-21", 0],
					"destination": ["obj-22", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-22", 1],
					"destination": ["obj-19", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-22", 0],
					"destination": ["obj-23", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-23", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-24", 0],
					"destination": ["obj-25", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-25", 1],
					"destination": ["obj-19", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-25", 0],
					"destination": ["obj-26", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-26", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-27", 0],
					"destination": ["obj-28", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-28", 1],
					"destination": ["obj-19", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-28", 0],
					"destination": ["obj-29", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-29", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-30", 0],
					"destination": ["obj-31", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-31", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 5],
					"destination": ["obj-32", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 4],
					"destination": ["obj-33", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-35", 0],
					"destination": ["obj-52", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-52", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-36", 0],
					"destination": ["obj-53", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-53", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-37", 0],
					"destination": ["obj-54", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-54", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-39", 0],
					"destination": ["obj-55", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-55", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-41", 0],
					"destination": ["obj-56", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-56", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-43", 0],
					"destination": ["obj-57", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-57", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-44", 0],
					"destination": ["obj-58", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-58", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-46", 0],
					"destination": ["obj-59", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-59", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-47", 0],
					"destination": ["obj-60", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-60", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-48", 0],
					"destination": ["obj-61", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-61", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-49", 0],
					"destination": ["obj-62", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-62", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-51", 0],
					"destination": ["obj-63", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-63", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-45", 0],
					"destination": ["obj-64", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-64", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 0],
					"destination": ["obj-43", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 1],
					"destination": ["obj-44", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-66", 0],
					"destination": ["obj-67", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-67", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 4],
					"destination": ["obj-66", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 5],
					"destination": ["obj-72", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-69", 0],
					"destination": ["obj-73", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-73", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-71", 0],
					"destination": ["obj-74", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-74", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-6", 6],
					"destination": ["obj-75", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-77", 0],
					"destination": ["obj-78", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 6],
					"destination": ["obj-77", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-78", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-79", 0],
					"destination": ["obj-80", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-80", 0],
					"destination": ["obj-81", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-81", 0],
					"destination": ["obj-82", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-82", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 3],
					"destination": ["obj-83", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-84", 0],
					"destination": ["obj-85", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-85", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-87", 0],
					"destination": ["obj-88", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-88", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-89", 0],
					"destination": ["obj-90", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-90", 1],
					"destination": ["obj-19", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-90", 0],
					"destination": ["obj-91", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-91", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-93", 0],
					"destination": ["obj-94", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-94", 0],
					"destination": ["obj-6", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 7],
					"destination": ["obj-89", 0]
				}
			},
			{
				"patchline": {
					"source": ["obj-17", 8],
					"destination": ["obj-93", 0]
				}
			}
		],
		"parameters": {
			"obj-14": ["MusicGen Bridge settings", "settings", 0],
			"obj-21": ["Generate button", "Generate", 0],
			"obj-24": ["Continue button", "Continue", 0],
			"obj-27": ["Melody button", "Melody", 0],
			"obj-30": ["Cancel button", "Cancel", 0],
			"obj-35": ["Length unit", "Unit", 0],
			"obj-36": ["Length in bars", "Bars", 0],
			"obj-37": ["Length in seconds", "Seconds", 0],
			"obj-39": ["Model", "Model", 0],
			"obj-41": ["Variations", "Var", 0],
			"obj-43": ["Seed", "Seed", 0],
			"obj-44": ["Dice (random seed)", "Dice", 0],
			"obj-45": ["Recall seed button", "Recall", 0],
			"obj-46": ["Temperature", "Temp", 0],
			"obj-47": ["Guidance (CFG)", "CFG", 0],
			"obj-48": ["Loop-ready", "Loop", 0],
			"obj-49": ["Key in prompt", "Key", 0],
			"obj-51": ["Placement", "Place", 0],
			"obj-69": ["Daemon port", "Port", 0],
			"obj-71": ["Reply port", "Reply", 0],
			"obj-79": ["Choose output folder button", "Folder", 0],
			"obj-84": ["Stems", "Stems", 0],
			"obj-87": ["Launch when ready", "Launch", 0],
			"obj-89": ["Jam", "Jam", 0],
			"inherited_shortname": 1
		},
		"dependency_cache": [
			{
				"name": "musicgen_bridge.js",
				"patcherrelativepath": ".",
				"type": "TEXT",
				"implicit": 1
			}
		],
		"latency": 0,
		"project": {
			"version": 1,
			"creationdate": 3847046400,
			"modificationdate": 3847046400,
			"viewrect": [25.0, 106.0, 300.0, 500.0],
			"autoorganize": 1,
			"hideprojectwindow": 1,
			"showdependencies": 1,
			"autolocalize": 0,
			"contents": {
				"patchers": {},
				"media": {},
				"code": {},
				"data": {},
				"other": {}
			},
			"layout": {},
			"searchpath": {},
			"detailsvisible": 0,
			"amxdtype": 1633771873,
			"readonly": 0,
			"devpathtype": 0,
			"devpath": ".",
			"sortmode": 0,
			"viewmode": 0,
			"includepackages": 0
		},
		"autosave": 0
	}
}
