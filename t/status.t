#!/usr/bin/perl

# ci_jobs_status: after a known sequence of requests across two workers,
# every counter has the value it must have, and the text passes a strict
# reader of the Prometheus text format (0.0.4).  ?ready follows the
# credentials file; a refused signature is explained in the error log,
# without a secret.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Uncompress::Gunzip qw(gunzip);
use Test::More;
use Time::HiRes qw(sleep);

my $dead = CiJobsTest::free_port();
my $wrong_key = 'wrongsecretkeyofthetest0000000001';
my $file_id = 'AKIDstatusfile00000000000000000000001';
my $file_key = 'statusfilesecretkey000000000000001';
my $expires = 4102444800;
my ($id, $key) = ($CiJobsTest::SECRET_ID, $CiJobsTest::SECRET_KEY);

my $t = CiJobsTest->new(
    workers => 2,
    secrets => [ $wrong_key, $file_key ],
    emulators => { plain => {},
                   file => { secrets => [ "$file_id:$file_key" ] } },
    start => 0,
    http => <<"EOF");
    ci_jobs_bucket $CiJobsTest::BUCKET;
    ci_jobs_region $CiJobsTest::REGION;
    ci_jobs_cache_zone st:1m;
    ci_jobs_read_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
            ci_jobs on;
            ci_jobs_secret_id $id;
            ci_jobs_secret_key $key;
            ci_jobs_cache st;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /nc/ {
            ci_jobs on;
            ci_jobs_secret_id $id;
            ci_jobs_secret_key $key;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /dead/ {
            ci_jobs on;
            ci_jobs_secret_id $id;
            ci_jobs_secret_key $key;
            ci_jobs_pass http://127.0.0.1:$dead;
        }

        location /bad/ {
            ci_jobs on;
            ci_jobs_secret_id $id;
            ci_jobs_secret_key $wrong_key;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /file/ {
            ci_jobs on;
            ci_jobs_credentials_file %%DIR%%/file.json;
            ci_jobs_pass http://127.0.0.1:%%EMU_file%%;
        }

        location = /status {
            ci_jobs_status;
            allow 127.0.0.1;
            deny all;
        }

        location = /denied {
            ci_jobs_status;
            deny all;
        }

        location = /status-gzip {
            ci_jobs_status;
            gzip on;
            gzip_types text/plain;
            gzip_min_length 0;
        }
    }
EOF

sub write_file {
    my ($name, $text) = @_;
    my $tmp = $t->dir . "/.$name.tmp";
    open my $fh, '>', $tmp or die;
    print $fh $text;
    close $fh;
    chmod 0600, $tmp;
    rename $tmp, $t->dir . "/$name" or die;
}

sub role_json {
    my ($until) = @_;
    return qq({"TmpSecretId":"$file_id","TmpSecretKey":"$file_key",)
         . qq("ExpiredTime":$until,"Code":"Success"}\n);
}

write_file('file.json', role_json($expires));
$t->start_nginx;

# --- the known sequence -------------------------------------------------------

my @sequence = (
    # [ method, target, status ]
    [ GET => '/ci/jobs/jobsSuccess1', 200 ],            # MISS, stored
    [ GET => '/ci/jobs/jobsSuccess1', 200 ],            # HIT
    [ GET => '/ci/jobs/jobsSuccess1', 200 ],            # HIT
    [ GET => '/ci/jobs/jobsRunning1', 200 ],            # MISS, not stored
    [ GET => '/ci/jobs?queueId=p893bcda225bf4945a378da6662e81a89'
             . '&tag=Translation', 200 ],               # BYPASS
    [ POST => '/ci/jobs/jobsSuccess1', 405 ],           # MethodNotAllowed
    [ GET => '/ci/jobs/not-an-id', 400 ],               # InvalidArgument
    [ GET => '/ci/nosuch/x', 404 ],                     # NoSuchApi
    [ GET => '/nc/jobs/fault500', 500 ],
    [ GET => '/nc/jobs/faultslow3', 504 ],              # timeout
    [ GET => '/nc/jobs/faultreset', 502 ],
    [ GET => '/nc/jobs/faulttruncated', 502 ],
    [ GET => '/nc/jobs/faultmalformed', 502 ],
    [ GET => '/nc/jobs/faulthuge', 502 ],               # oversize
    [ GET => '/dead/jobs/jobsSuccess1', 502 ],          # connect
    [ GET => '/bad/jobs/jobsSuccess1', 403 ],           # SignatureDoesNotMatch
    [ GET => '/file/jobs/jobsSuccess1', 200 ],
);

my $stored;
for my $s (@sequence) {
    my ($method, $target, $status) = @$s;
    my $r = $t->request($method, $target);
    is($r->{status}, $status, "$method $target: $status");
    $stored //= length $r->{body} if $target eq '/ci/jobs/jobsSuccess1';
}

my $r = $t->get('/status');
is($r->{status}, 200, 'status: 200');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   'status: the Prometheus text format');
is($r->{headers}{'content-length'}, length $r->{body}, 'status: whole');

my %m = parse_strictly($r->{body});
ok(%m, 'the exposition parses strictly') or diag($r->{body});

my %want = (
    'ci_jobs_requests_total{api="jobs",status="200"}' => 5,
    'ci_jobs_requests_total{api="list",status="200"}' => 1,
    'ci_jobs_requests_total{api="none",status="405"}' => 1,
    'ci_jobs_requests_total{api="none",status="400"}' => 1,
    'ci_jobs_requests_total{api="none",status="404"}' => 1,
    'ci_jobs_requests_total{api="jobs",status="500"}' => 1,
    'ci_jobs_requests_total{api="jobs",status="504"}' => 1,
    'ci_jobs_requests_total{api="jobs",status="502"}' => 5,
    'ci_jobs_requests_total{api="jobs",status="403"}' => 1,
    'ci_jobs_refusals_total{code="InvalidArgument"}' => 1,
    'ci_jobs_refusals_total{code="NoSuchApi"}' => 1,
    'ci_jobs_refusals_total{code="MethodNotAllowed"}' => 1,
    'ci_jobs_refusals_total{code="AccessDenied"}' => 0,
    'ci_jobs_refusals_total{code="ServiceUnavailable"}' => 0,
    'ci_jobs_refusals_total{code="CredentialsUnavailable"}' => 0,
    'ci_jobs_refusals_total{code="TooManyWatchers"}' => 0,
    'ci_jobs_refusals_total{code="SlowDown"}' => 0,
    'ci_jobs_access_refusals_total{reason="missing"}' => 0,
    'ci_jobs_access_refusals_total{reason="malformed"}' => 0,
    'ci_jobs_access_refusals_total{reason="signature"}' => 0,
    'ci_jobs_access_refusals_total{reason="expired"}' => 0,
    'ci_jobs_access_refusals_total{reason="scope"}' => 0,
    'ci_jobs_cache_requests_total{zone="st",result="MISS"}' => 2,
    'ci_jobs_cache_requests_total{zone="st",result="HIT"}' => 2,
    'ci_jobs_cache_requests_total{zone="st",result="BYPASS"}' => 1,
    'ci_jobs_cache_requests_total{zone="st",result="EXPIRED"}' => 0,
    'ci_jobs_cache_requests_total{zone="st",result="COLLAPSED"}' => 0,
    'ci_jobs_cache_requests_total{zone="st",result="STALE"}' => 0,
    'ci_jobs_cache_entries{zone="st"}' => 1,
    'ci_jobs_cache_bytes{zone="st"}' => $stored,
    'ci_jobs_cache_evictions_total{zone="st"}' => 0,
    # CI's answers whose header was good: jobsSuccess1, jobsRunning1, the
    # list, faulttruncated, faultmalformed, /file/; the 500; the 403
    'ci_jobs_upstream_requests_total{status="200"}' => 6,
    'ci_jobs_upstream_requests_total{status="500"}' => 1,
    'ci_jobs_upstream_requests_total{status="403"}' => 1,
    'ci_jobs_upstream_errors_total{kind="connect"}' => 1,
    'ci_jobs_upstream_errors_total{kind="tls"}' => 0,
    'ci_jobs_upstream_errors_total{kind="timeout"}' => 1,
    'ci_jobs_upstream_errors_total{kind="reset"}' => 1,
    'ci_jobs_upstream_errors_total{kind="truncated"}' => 1,
    'ci_jobs_upstream_errors_total{kind="malformed"}' => 1,
    'ci_jobs_upstream_errors_total{kind="oversize"}' => 1,
    # every request that went to the upstream side, signed once each
    'ci_jobs_upstream_response_seconds_count' => 12,
    'ci_jobs_clock_skew_corrections_total' => 0,
    'ci_jobs_watchers' => 0,
    'ci_jobs_watch_events_total' => 0,
    # the file's first load into the state zone, once for both workers
    'ci_jobs_credentials_reloads_total{result="ok"}' => 1,
    'ci_jobs_credentials_reloads_total{result="error"}' => 0,
    'ci_jobs_upstream_resolutions_total{result="changed"}' => 0,
    'ci_jobs_upstream_resolutions_total{result="unchanged"}' => 0,
    'ci_jobs_upstream_resolutions_total{result="failed"}' => 0,
    'ci_jobs_callbacks_total{result="accepted"}' => 0,
    'ci_jobs_callbacks_total{result="ignored"}' => 0,
    'ci_jobs_callbacks_total{result="invalid"}' => 0,
    qq(ci_jobs_credentials_expiry_seconds{file="@{[ $t->dir ]}/file.json"})
        => $expires,
);

for my $k (sort keys %want) {
    is($m{$k}, $want{$k}, "$k = $want{$k}");
}

# a kept-alive connection CI closed meanwhile is retried, signed anew
ok($m{'ci_jobs_signatures_total'} >= 12 && $m{'ci_jobs_signatures_total'} <= 14,
   'ci_jobs_signatures_total: each request signed, once or on its retry');
my $signed = $m{'ci_jobs_signatures_total'};
$want{'ci_jobs_signatures_total'} = $signed;

my @series = grep { !/_bucket\{|_sum$|_count$/ } keys %m;
my @extra = grep { !exists $want{$_} } @series;
ok(!@extra, 'no series beyond those expected') or diag(join "\n", @extra);

# the timeout took a second: its bucket says so, the sum too
ok($m{'ci_jobs_upstream_response_seconds_bucket{le="0.500"}'} <= 11,
   'the timeout is above 0.5 s');
ok($m{'ci_jobs_upstream_response_seconds_sum'} >= 1,
   'the sum holds the timeout');

# counts are shared by the workers, and kept across a reload
$t->reload;
sleep 0.5;
%m = parse_strictly($t->get('/status')->{body});
is($m{'ci_jobs_signatures_total'}, $signed, 'kept across a reload');

is($t->get('/denied')->{status}, 403, 'access is nginx\'s deny');
is($t->request(POST => '/status')->{status}, 405, 'POST: 405');

# --- readiness --------------------------------------------------------------

$r = $t->get('/status?ready');
is($r->{status}, 200, 'ready: 200') or diag($r->{body});
like($r->{body}, qr/^ready/, 'ready: says so');

sub ready { $t->get('/status?ready')->{status} }

sleep 1.1;
write_file('file.json', "not credentials\n");
ok(CiJobsTest::wait_for(sub { ready() == 503 }, 10),
   'an unusable credentials file: 503');
$r = $t->get('/status?ready');
like($r->{body},
     qr{location "/file/": credentials file ".*file\.json" is not usable},
     'the reason names the location and the file');

sleep 1.1;
write_file('file.json', role_json($expires));
ok(CiJobsTest::wait_for(sub { ready() == 200 && ready() == 200
                              && ready() == 200 && ready() == 200 }, 10),
   'fixed: 200 again, from both workers');

sleep 1.1;
write_file('file.json', role_json(time - 60));
ok(CiJobsTest::wait_for(sub { ready() == 503 }, 10),
   'expired credentials: 503');
like($t->get('/status?ready')->{body}, qr/expired at/,
     'the reason: expired');

%m = parse_strictly($t->get('/status')->{body});
ok($m{'ci_jobs_credentials_reloads_total{result="error"}'} >= 1,
   'the bad file is counted');
ok($m{'ci_jobs_credentials_reloads_total{result="ok"}'} >= 2,
   'the good ones too');

# --- the signature-mismatch diagnosis ----------------------------------------

$t->get('/bad/jobs/jobsSuccess2') for 1 .. 3;

my @diag = grep { /CI refused the signature/ } split /\n/, $t->error_log;
is(scalar @diag, 1,
   'the mismatch is logged once a minute per location, all workers together')
    or diag(join "\n", @diag);
like($diag[0] // '',
     qr/\[error\].*SignatureDoesNotMatch in location "\/bad\/"/,
     'at error level, with the code and the location');
like($diag[0] // '', qr/path "\/jobs\/jobsSuccess1", headers "host"/,
     'the path and the signed headers');
like($diag[0] // '', qr/KeyTime \d+;\d+/, 'the KeyTime window');
like($diag[0] // '', qr/SecretId "\Q$id\E"/, 'the SecretId');
unlike($diag[0] // '', qr/q-signature|[0-9a-f]{40}|\Q$wrong_key\E/,
       'no signature, no SignKey, no key');

# a scraper asking for gzip gets it where gzip_types has text/plain: the
# type is matched without its version parameter
$r = $t->get('/status-gzip', 'Accept-Encoding' => 'gzip');
is($r->{headers}{'content-encoding'}, 'gzip', 'status: gzip_types text/plain');
gunzip(\$r->{body} => \my $text);
my %gz = parse_strictly($text // '');
ok(%gz, 'status, compressed: the exposition');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   'status, compressed: its type unchanged');

$t->done;
done_testing;


# A strict reader of the text format, version 0.0.4: HELP and TYPE once
# per family and before its samples, families not interleaved, names and
# label names of the allowed characters, label values with only \\, \"
# and \n escapes, values that are numbers, no duplicate series;
# histograms with cumulative buckets ending in +Inf equal to _count.

sub parse_strictly {
    my ($text) = @_;
    my (%series, %type, %help, %done, $family);
    my $fail = sub { fail("exposition: $_[0]"); return () };

    return $fail->('does not end in a line feed') unless $text =~ /\n\z/;

    for my $line (split /\n/, $text) {
        if ($line =~ /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/) {
            my ($what, $name, $rest) = ($1, $2, $3);
            if (!defined $family || $family ne $name) {
                return $fail->("family $name again") if $done{$name}++;
                $family = $name;
            }
            if ($what eq 'TYPE') {
                return $fail->("TYPE of $name twice") if $type{$name};
                return $fail->("bad type $rest") unless
                    $rest =~ /^(counter|gauge|histogram|summary|untyped)$/;
                return $fail->("TYPE of $name after its samples")
                    if grep { /^\Q$name\E(_bucket|_sum|_count)?(\{|$)/ }
                            keys %series;
                $type{$name} = $rest;
            } else {
                return $fail->("HELP of $name twice") if $help{$name}++;
                return $fail->('bad escape in HELP') if $rest =~ /\\[^\\n]/;
            }
            next;
        }
        return $fail->("comment line: $line") if $line =~ /^#/;
        return $fail->('empty line') if $line eq '';

        $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/
            or return $fail->("bad sample line: $line");
        my ($name, $labels, $value) = ($1, $3, $4);
        return $fail->("bad value $value in $line") unless $value =~
            /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]Inf$|^NaN$/;

        my $base = $name;
        (my $h = $name) =~ s/_(bucket|sum|count)$//;
        $base = $h if ($type{$h} // '') eq 'histogram';
        return $fail->("sample $name outside its family")
            unless defined $family && $family eq $base;
        return $fail->("sample $name before its TYPE") unless $type{$base};
        return $fail->("histogram sample $name without a suffix")
            if $type{$base} eq 'histogram' && $name eq $base;

        if (defined $labels) {
            my ($l, %seen) = ($labels);
            while (length $l) {
                $l =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)
                         ="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//x
                    or return $fail->("bad labels in $line");
                return $fail->("repeated label in $line") if $seen{$1}++;
            }
        }

        my $key = $name . (defined $labels ? "{$labels}" : '');
        return $fail->("duplicate series $key") if exists $series{$key};
        $series{$key} = $value;
    }

    for my $h (grep { $type{$_} eq 'histogram' } keys %type) {
        my @b = map { [ /le="([^"]+)"/, $series{$_} ] }
                grep { /^\Q$h\E_bucket\{/ } keys %series;
        @b = sort { ($a->[0] eq '+Inf' ? 9e99 : $a->[0])
                    <=> ($b->[0] eq '+Inf' ? 9e99 : $b->[0]) } @b;
        return $fail->("$h has no +Inf bucket")
            unless @b && $b[-1][0] eq '+Inf';
        for my $i (1 .. $#b) {
            return $fail->("$h buckets are not cumulative")
                if $b[$i][1] < $b[$i - 1][1];
        }
        return $fail->("$h: +Inf is not _count")
            unless ($series{"${h}_count"} // -1) == $b[-1][1];
    }

    return %series;
}
